"""Report benchmark on PostgreSQL: the figures (engine/reads/figures.py) over 100 000 completed and 10 000 running
in_utskrivning cases.

    .venv/bin/python bench/reports.py --database postgresql://postgres@127.0.0.1/samflode_bench

The database is emptied (schema dropped) and migrated, then the cases are generated in bulk with SQL, not through
the engine: instance rows spread over 13 kommuner, 46 vårdcentraler (each in one kommun, as a person's listed
vårdcentral mostly is), 12 wards (taking patients from every kommun) and two process versions, admitted over
the last two years (running ones in the last month), each with a case_facts row of varied milestones (UK days drawn
from an exponential distribution, shares in time around what the sources report, SIPs offered / accepted / held,
readmissions, ages) and about 0.3 deviations per case (counted into case_facts.deviations as the facts projector does).
The figures read case_facts and deviations only, so that is all the reports need. Then each report is timed
`--repeats` times (median and p95, ms): the total, each grouping, the deviations, and the whole report page
(/rapporter through the Flask test client, signed in as a manager: its queries, the charts and the template) and the
Excel export. The goal is every report under 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from argon2 import PasswordHasher  # noqa: E402

from engine.commands.accounts import Accounts  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.domain.clock import STOCKHOLM, SimulatedClock  # noqa: E402
from engine.persistence.db import Database  # noqa: E402
from engine.platform import Platform, build  # noqa: E402
from engine.reads.figures import GROUPINGS, FigureScope  # noqa: E402
from webui import create_app  # noqa: E402

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=STOCKHOLM)
KOMMUNER = [
    "Aneby", "Eksjö", "Gislaved", "Gnosjö", "Habo", "Jönköping", "Mullsjö", "Nässjö", "Sävsjö", "Tranås", "Vaggeryd",
    "Vetlanda", "Värnamo",
]  # fmt: skip

INSTANCES_SQL = """
INSERT INTO process_instances (id, definition_id, process_id, version, business_key, status, started_at, updated_at,
                               started_by, data, state, serializer_version, lock_version, kommun, vardcentral,
                               avdelning)
SELECT g,
       CASE WHEN g % 3 = 0 THEN :d2 ELSE :d1 END,
       'in_utskrivning',
       CASE WHEN g % 3 = 0 THEN 2 ELSE 1 END,
       'bench/' || g,
       CASE WHEN g <= :completed THEN 'completed' ELSE 'waiting' END,
       t.admitted, t.admitted, 'bench', '{}'::jsonb, '', 'bench', 1,
       (ARRAY[:kommuner])[1 + g % 13],
       'SE2321000057-VC' || CASE WHEN (g % 13) + 13 * ((g / 13) % 4) < 46
                                 THEN 1 + (g % 13) + 13 * ((g / 13) % 4) ELSE 1 + g % 13 END,
       'SE2321000057-AVD' || (1 + (g / 7) % 12)
  FROM generate_series(1, :total) g,
       LATERAL (SELECT CASE WHEN g <= :completed
                            THEN :now - (interval '40 days') - random() * interval '690 days'
                            ELSE :now - random() * interval '30 days' END + (g * 0) * interval '1 s' AS admitted) t
"""

FACTS_SQL = """
INSERT INTO case_facts (instance_id, definition_id, process_id, version, status, kommun, vardcentral, avdelning,
                        avtal, age_at_admission, admitted_at, ref_date, ref_month, ref_week,
                        inskrivningsmeddelande_at, inskrivningsmeddelande_on_time, uk_at, last_uk_at, uk_notices,
                        uk_withdrawals, planned_date_moves, discharged_at, uk_days, payable_days, home_at,
                        home_within_24h, sip_offered_at, sip_accepted, sip_called_at, sip_call_on_time, sip_held_at,
                        sip_held_in_home, svpl_on_time, readmission, fokuspatient, updated_at)
SELECT i.id, i.definition_id, i.process_id, i.version, i.status, i.kommun, i.vardcentral, i.avdelning,
       'jonkoping', r.age, i.started_at,
       (i.started_at AT TIME ZONE 'Europe/Stockholm')::date,
       to_char(i.started_at AT TIME ZONE 'Europe/Stockholm', 'YYYY-MM'),
       to_char(i.started_at AT TIME ZONE 'Europe/Stockholm', 'IYYY-"W"IW'),
       i.started_at + interval '3 hours', r.p1 < 0.9,
       CASE WHEN done OR r.p2 < 0.5 THEN i.started_at + interval '2 days' END,
       CASE WHEN done OR r.p2 < 0.5 THEN i.started_at + interval '2 days' END,
       CASE WHEN done OR r.p2 < 0.5 THEN 1 ELSE 0 END,
       CASE WHEN r.p3 < 0.05 THEN 1 ELSE 0 END,
       floor(r.p4 * 3)::int,
       CASE WHEN done THEN i.started_at + interval '2 days' + r.uk_days * interval '1 day' END,
       CASE WHEN done THEN r.uk_days END,
       CASE WHEN done THEN 0 END,
       CASE WHEN done THEN i.started_at + interval '2 days' + r.uk_days * interval '1 day' + interval '2 hours' END,
       CASE WHEN done THEN r.uk_days = 0 AND r.p5 < 0.8 END,
       CASE WHEN r.p6 < 0.4 THEN i.started_at + interval '2 days 4 hours' END,
       CASE WHEN r.p6 < 0.4 THEN r.p7 < 0.85 END,
       CASE WHEN r.p6 < 0.4 AND r.p7 < 0.85 THEN i.started_at + interval '3 days' END,
       CASE WHEN r.p6 < 0.4 AND r.p7 < 0.85 THEN r.p8 < 0.8 END,
       CASE WHEN done AND r.p6 < 0.4 AND r.p7 < 0.85 THEN i.started_at + interval '6 days' END,
       CASE WHEN done AND r.p6 < 0.4 AND r.p7 < 0.85 THEN r.p9 < 0.6 END,
       CASE WHEN done AND r.p6 < 0.4 AND r.p7 < 0.85 THEN r.p10 < 0.7 END,
       r.p11 < 0.12, r.p11 < 0.12 AND r.age > 65,
       i.updated_at
  FROM process_instances i,
       LATERAL (SELECT i.status = 'completed' AS done,
                       least(30, floor(-ln(1 - random()) * 2.5))::int AS uk_days,
                       (40 + floor(random() * 60))::int AS age,
                       random() AS p1, random() AS p2, random() AS p3, random() AS p4, random() AS p5,
                       random() AS p6, random() AS p7, random() AS p8, random() AS p9, random() AS p10,
                       random() AS p11 WHERE i.id = i.id) r
"""

DEVIATIONS_SQL = """
INSERT INTO deviations (instance_id, element_id, party, cause, at)
SELECT i.id, d.element, d.party, d.cause, i.started_at + interval '2 days'
  FROM process_instances i
  JOIN (VALUES (0, 'tid_inskrivningsmeddelande', 'Slutenvård',
                'Inskrivningsmeddelande ej skickat inom tidsgränsen (24 timmar)'),
               (1, 'tid_kallelse_sip', 'Region primärvård', 'Kallelse till SIP ej skickad inom tidsgränsen'),
               (2, 'tid_hem_efter_uk', 'Slutenvård', 'Hemgång inte inom 24 timmar efter utskrivningsklar'),
               (3, 'tid_svpl_efter_utskrivning', 'Region primärvård', 'SIP-möte ej genomfört inom tidsgränsen'))
       AS d(n, element, party, cause) ON d.n = i.id % 4
 WHERE (i.id * 7919) % 10 < 3
"""


def reset(url: str) -> None:
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.upgrade()
    db.dispose()


def generate(p: Platform, completed: int, running: int) -> float:
    started = time.perf_counter()
    with p.db.engine.begin() as conn:
        ids = []
        for version in (1, 2):
            ids.append(
                conn.execute(
                    text(
                        "INSERT INTO process_definitions (process_id, version, name, xml, content_hash, executable,"
                        " diagnostics, elements, lanes, start_messages, dependencies, forms, deployed_by,"
                        " deployed_at, comment) VALUES ('in_utskrivning', :v, 'In- och utskrivning', '\\x00',"
                        " :h, true, '[]', '{}', '[]', '[]', '{}', '{}', 'bench', :now, '') RETURNING id"
                    ),
                    {"v": version, "h": f"bench-{version}", "now": NOW},
                ).scalar_one()
            )
        params = {"d1": ids[0], "d2": ids[1], "completed": completed, "total": completed + running, "now": NOW}
        conn.execute(
            text(INSTANCES_SQL.replace(":kommuner", ", ".join(f"'{k}'" for k in KOMMUNER))),
            params,
        )
        conn.execute(text("SELECT setval('process_instances_id_seq', :n)"), {"n": completed + running})
        conn.execute(text(FACTS_SQL))
        conn.execute(text(DEVIATIONS_SQL))
        conn.execute(
            text(
                "UPDATE case_facts SET deviations = d.n FROM (SELECT instance_id, count(*) AS n FROM deviations"
                " GROUP BY instance_id) d WHERE d.instance_id = case_facts.instance_id"
            )
        )
        conn.execute(text("ANALYZE process_instances"))
        conn.execute(text("ANALYZE case_facts"))
        conn.execute(text("ANALYZE deviations"))
    return time.perf_counter() - started


def timed(fn: Callable[[], object], repeats: int) -> str:
    fn()  # warm
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    p95 = samples[max(0, int(round(0.95 * len(samples))) - 1)]
    return f"median {statistics.median(samples):7.1f} ms   p95 {p95:7.1f} ms   max {samples[-1]:7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="postgresql://... (emptied!)")
    parser.add_argument("--completed", type=int, default=100_000)
    parser.add_argument("--running", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    if not args.database.startswith("postgresql"):
        parser.error("the benchmark runs on PostgreSQL")
    reset(args.database)
    settings = Settings(
        database_url=args.database, clock="simulated", processes_dir=ROOT / "processes", scheduler=False
    ).checked()
    p = build(settings, clock=SimulatedClock(NOW), migrate=False)
    try:
        seconds = generate(p, args.completed, args.running)
        with p.db.read() as session:
            facts = session.execute(text("SELECT count(*) FROM case_facts")).scalar_one()
            deviations = session.execute(text("SELECT count(*) FROM deviations")).scalar_one()
        print(
            f"generated {facts} case_facts rows ({args.completed} completed, {args.running} running) and "
            f"{deviations} deviations in {seconds:.1f} s"
        )
        today = NOW.astimezone(STOCKHOLM).date()
        year = FigureScope(date(today.year - 1, today.month, 1), today + timedelta(days=1))
        everything = FigureScope(date(2000, 1, 1), today + timedelta(days=1))
        one_kommun = FigureScope(year.start, year.end, kommuner=frozenset({"Eksjö"}))
        with p.db.read() as session:
            in_year = session.execute(
                text("SELECT count(*) FROM case_facts WHERE ref_date >= :s AND ref_date < :e"),
                {"s": year.start, "e": year.end},
            ).scalar_one()
        print(f"report period {year.start} .. {year.end - timedelta(days=1)}: {in_year} cases")
        figures = p.figures
        print(f"{'total, last 12 months':42s}", timed(lambda: figures.compute(year), args.repeats))
        print(f"{'total, all two years':42s}", timed(lambda: figures.compute(everything), args.repeats))
        for grouping in GROUPINGS:
            label = f"per {grouping}, last 12 months"
            print(f"{label:42s}", timed(lambda g=grouping: figures.compute(year, g), args.repeats))
        print(f"{'per month, one kommun':42s}", timed(lambda: figures.compute(one_kommun, "month"), args.repeats))
        print(f"{'deviations per party and cause':42s}", timed(lambda: figures.deviations(year), args.repeats))
        print(f"{'deviations per kommun':42s}", timed(lambda: figures.deviations(year, "kommun"), args.repeats))

        with p.db.unit_of_work() as session:
            p.directory.create_user(session, "maja", "Maja Chef", ["manager"], [], at=NOW, password_hash=FAST.hash("x"))
        app = create_app({"TESTING": True}, platform=p)
        app.extensions["samflode_accounts"] = Accounts(p.db, p.clock, p.directory, FAST)
        client = app.test_client()
        import re

        form = client.get("/logga-in").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        client.post("/logga-in", data={"username": "maja", "password": "x", "csrf_token": token.group(1)})

        def page(query: str) -> None:
            response = client.get(f"/rapporter?{query}")
            assert response.status_code == 200, response.status_code

        print(f"{'page /rapporter (month), 12 months':42s}", timed(lambda: page(""), args.repeats))
        print(f"{'page /rapporter per kommun':42s}", timed(lambda: page("gruppering=kommun"), args.repeats))
        print(f"{'page /rapporter per vårdcentral':42s}", timed(lambda: page("gruppering=vardcentral"), args.repeats))
        print(
            f"{'Excel export per month':42s}",
            timed(lambda: client.get("/rapporter/nyckeltal.xlsx").get_data(), args.repeats),
        )
    finally:
        p.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
