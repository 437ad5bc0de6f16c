"""Load test with Locust (issue 17): staff at their worklists, journal messages and 2-second timers, against 1, 2 and
4 web processes (gunicorn) with separate scheduler processes, on PostgreSQL holding many open cases. A bench, run on
demand; not part of the test suite. Prints throughput, p50/p95/p99 per endpoint, errors, lost and doubled timers,
timer lateness and the scaling ratio.

    .venv/bin/python bench/load.py                                  # 100 000 open cases (set-up a few minutes)
    .venv/bin/python bench/load.py --cases 2000 --duration 60       # a run that fits a coffee break
    .venv/bin/python bench/load.py --web 1,2 --users 50 --schedulers 2

Set-up: the database is emptied, the demo directory and processes loaded, `--real-cases` in_utskrivning cases started by
inskrivning messages through the runtime (spread evenly over `--units` wards and as many vårdcentraler, 25 of each by
default: the staff below work on these, two staff members to a unit at 50 staff) and the `load_timer` process deployed;
the rest of `--cases` are written in bulk with SQL as bench/worklist.py writes them (instance rows, the open tasks of a
case after its inskrivningsmeddelande, correlations; units of a county-sized directory, all 13 kommuner), so that every
query the staff make runs over tables of the full size. Each web count runs against the same database (the cases the
previous run completed stay completed; new cases keep coming).
Timers: every `load_timer` case waits 2 s; after each run the schedulers get 10 s to finish, then the history tells
how many fired late, not at all (lost) or twice (doubled).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.config import Settings  # noqa: E402
from engine.domain.actors import SYSTEM_ACTOR  # noqa: E402
from engine.domain.clock import SystemClock  # noqa: E402
from engine.persistence.db import Database  # noqa: E402
from engine.persistence.models import HistoryEntry, ProcessInstance  # noqa: E402
from engine.platform import build  # noqa: E402
from webui.demo import DEMO_PASSWORD, UNITS, load_demo, personnummer  # noqa: E402

TIMER_PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
<bpmn:process id="load_timer" isExecutable="true"><bpmn:startEvent id="start" />
<bpmn:intermediateCatchEvent id="vanta"><bpmn:timerEventDefinition><bpmn:timeDuration>PT2S</bpmn:timeDuration>
</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent><bpmn:endEvent id="end" />
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="vanta" />
<bpmn:sequenceFlow id="f2" sourceRef="vanta" targetRef="end" />
</bpmn:process></bpmn:definitions>"""


def reset(url: str) -> None:
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.dispose()


# The staff's units: `--units` wards and as many vårdcentraler (the demo's two of each first, then more), each staff
# member in one of them, and the real cases spread evenly over them. With two of each (the first version of this
# bench) a ward held 1 500 open cases and every worklist query sorted and counted them; a ward has 20-30 beds.
WARD_ROLES = (["vardplanerare", "lakare_slutenvard"], ["vardplanerare"])
VC_ROLES = (["vardsamordnare", "lakare_primarvard"], ["vardsamordnare"])


def staff_units(count: int) -> tuple[list[str], list[str]]:
    wards = [UNITS["hs_medger"], UNITS["ryhov_med"]] + [f"SE2321000057-LAVD{n}" for n in range(1, count - 1)]
    centres = [UNITS["vc_eksjo"], UNITS["vc_raslatt"]] + [f"SE2321000057-LVC{n}" for n in range(1, count - 1)]
    return wards[:count], centres[:count]


def add_units(p, count: int) -> None:  # type: ignore[no-untyped-def]
    """The wards and vårdcentraler beyond the demo's, in the directory (idempotent)."""
    wards, centres = staff_units(count)
    now = p.clock.now()
    with p.db.unit_of_work() as session:
        for hsa_id, name, kind, kommun in [
            *((w, f"Avdelning L{w.rsplit('LAVD', 1)[-1]}", "avdelning", None) for w in wards if "LAVD" in w),
            *((c, f"Vårdcentral L{c.rsplit('LVC', 1)[-1]}", "vardcentral", "Eksjö") for c in centres if "LVC" in c),
        ]:
            session.execute(
                text(
                    "INSERT INTO org_units (hsa_id, name, kind, kommun, created_at, updated_at) "
                    "VALUES (:hsa_id, :name, :kind, :kommun, :now, :now) ON CONFLICT (hsa_id) DO NOTHING"
                ),
                {"hsa_id": hsa_id, "name": name, "kind": kind, "kommun": kommun, "now": now},
            )


def staff_accounts(url: str, count: int, units: int) -> dict[str, dict[str, str]]:
    """`count` staff accounts (made if missing) with the demo password and an API token each, alternately on a ward
    and at a vårdcentral, spread over `units` of each: {username: {token, unit}}."""
    from argon2 import PasswordHasher

    from engine.persistence.models import User

    settings = Settings(database_url=url, clock="real", scheduler=False, processes_dir=ROOT / "processes").checked()
    p = build(settings, clock=SystemClock(), migrate=False)
    password_hash = PasswordHasher().hash(DEMO_PASSWORD)
    wards, centres = staff_units(units)
    accounts: dict[str, dict[str, str]] = {}
    with p.db.unit_of_work() as session:
        for n in range(count):
            on_ward = n % 2 == 0
            roles = (WARD_ROLES if on_ward else VC_ROLES)[(n // 2) % 2]
            unit = (wards if on_ward else centres)[(n // 2) % units]
            username = f"{'ward' if on_ward else 'vc'}{n}"
            if session.scalar(select(User).where(User.username == username)) is None:
                p.directory.create_user(
                    session,
                    username,
                    f"{'Vårdplanerare' if on_ward else 'Vårdsamordnare'} {n}",
                    roles,
                    [unit],
                    at=p.clock.now(),
                    password_hash=password_hash,
                )
            token = p.directory.create_token(session, username, at=p.clock.now(), label="load")
            accounts[username] = {"token": token, "unit": unit}
    p.close()
    return accounts


def seed(url: str, cases: int, real_cases: int, units: int) -> tuple[dict[str, str], dict[str, list[str]]]:
    from bench.worklist import bulk_instances, directory

    settings = Settings(database_url=url, clock="real", scheduler=False, processes_dir=ROOT / "processes").checked()
    p = build(settings, clock=SystemClock())
    summary = load_demo(p)
    bulk = max(0, cases - real_cases)
    if bulk:
        t = time.perf_counter()
        directory(p)
        bulk_instances(p, bulk)
        print(f"  {bulk} cases in bulk (SQL) in {time.perf_counter() - t:.0f} s", flush=True)
    with p.db.unit_of_work() as session:
        for username in ("rut", "otto"):
            summary["tokens"][username] = p.directory.create_token(session, username, at=p.clock.now(), label="load")
    add_units(p, units)
    wards, centres = staff_units(units)
    p.runtime.deploy(TIMER_PROCESS, SYSTEM_ACTOR, comment="load bench")
    persons: dict[str, list[str]] = {}  # per unit: whom its staff may search (need to know)
    started = time.perf_counter()
    for n in range(min(cases, real_cases)):
        pnr = personnummer(f"19{30 + n % 25}{1 + n % 12:02d}{1 + n % 28:02d}", f"{n % 1000:03d}")
        stay = f"VT-L{n}"
        data = {
            "personnummer": pnr,
            "namn": f"Testperson {n}",
            "vardtillfalle_id": stay,
            "avdelning_hsa_id": wards[n % len(wards)],
            "kommun": "Eksjö",
            "vardcentral_hsa_id": centres[(n // len(wards)) % len(centres)],
            "inskrivningstid": p.clock.now().isoformat(),
            "avtal": "jonkoping",
        }
        p.runtime.send_message(
            "inskrivning", f"seed-{n}", {"personnummer": pnr, "vardtillfalle_id": stay}, data, SYSTEM_ACTOR
        )
        for unit in (data["avdelning_hsa_id"], data["vardcentral_hsa_id"]):
            kept = persons.setdefault(unit, [])
            if len(kept) < 500:
                kept.append(pnr)
        if n and n % 1000 == 0:
            rate = n / (time.perf_counter() - started)
            print(f"  {n} cases ({rate:.0f}/s)", flush=True)
    p.close()
    return summary["tokens"], persons


def wait_ready(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/livez", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the web server at {url} did not start")


def start_web(env: dict[str, str], port: int, workers: int, threads: int) -> subprocess.Popen:
    from webui.gunicorn_app import gunicorn_command, gunicorn_environment

    web_env = gunicorn_environment(Settings.from_env(env), env)
    command = gunicorn_command("127.0.0.1", port, workers, threads)
    log = open(Path(tempfile.gettempdir()) / f"samflode-load-web-{workers}.log", "w")  # noqa: SIM115 - the server's
    return subprocess.Popen(command, env=web_env, cwd=ROOT, stdout=log, stderr=log)


def locust(host: str, env: dict[str, str], users: int, duration: int, warmup: int, prefix: str) -> list[dict[str, str]]:
    """Locust for `warmup + duration` seconds; the figures are those of the last `duration` (load_users.py resets
    them `warmup` seconds after the last user started, i.e. after the sign-ins)."""
    spawn_rate = max(5, users // 5)
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "bench" / "load_users.py"),
        "--headless",
        "--users",
        str(users + 1),  # the staff and one journal system
        "--spawn-rate",
        str(spawn_rate),
        "--run-time",
        f"{math.ceil((users + 1) / spawn_rate) + warmup + duration}s",
        "--host",
        host,
        "--csv",
        prefix,
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    env = {**env, "SAMFLODE_LOAD_WARMUP": str(warmup)}
    subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    with open(f"{prefix}_stats.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def timer_figures(url: str, since: datetime) -> dict[str, float]:
    db = Database(url)
    with db.engine.connect() as conn:
        started = conn.execute(
            select(ProcessInstance.id).where(
                ProcessInstance.process_id == "load_timer", ProcessInstance.started_at >= since
            )
        ).scalars()
        ids = set(started)
        rows = conn.execute(
            select(HistoryEntry.instance_id, HistoryEntry.data).where(
                HistoryEntry.kind == "timer_fired", HistoryEntry.instance_id.in_(ids) if ids else False
            )
        ).all()
    db.dispose()
    per = Counter(r[0] for r in rows)
    lateness = sorted(float(r[1]["lateness_seconds"]) for r in rows)

    def pct(q: float) -> float:
        return lateness[min(len(lateness) - 1, int(round(q * (len(lateness) - 1))))] if lateness else float("nan")

    return {
        "timers": len(ids),
        "fired": len(per),
        "lost": len(ids - set(per)),
        "doubled": sum(v - 1 for v in per.values() if v > 1),
        "p50": statistics.median(lateness) if lateness else float("nan"),
        "p99": pct(0.99),
        "max": lateness[-1] if lateness else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/samflode_load")
    parser.add_argument("--cases", type=int, default=100_000, help="open cases made before the runs")
    parser.add_argument(
        "--real-cases", type=int, default=3000, help="of those, started through the runtime (the staff's work)"
    )
    parser.add_argument(
        "--units", type=int, default=25, help="wards and vårdcentraler (of each) the staff and the real cases are on"
    )
    parser.add_argument("--web", default="1,2,4", help="web process counts to run, comma separated")
    parser.add_argument("--threads", type=int, default=4, help="threads per web process")
    parser.add_argument("--schedulers", type=int, default=2)
    parser.add_argument("--users", type=int, default=50, help="concurrent staff")
    parser.add_argument("--duration", type=int, default=60, help="seconds per run that count")
    parser.add_argument(
        "--warmup", type=int, default=15, help="seconds after all staff started (and signed in) before counting"
    )
    parser.add_argument("--wait", default="1,3", help="staff think time in seconds: min,max")
    parser.add_argument("--port", type=int, default=5077)
    parser.add_argument("--keep", action="store_true", help="use the database as it is (no reset, no seeding)")
    parser.add_argument("--seed-only", action="store_true", help="seed the database and stop (run later with --keep)")
    args = parser.parse_args()
    if not args.database.startswith("postgresql"):
        raise SystemExit("the load test runs on PostgreSQL (--database postgresql://...)")

    tokens_file = Path(tempfile.gettempdir()) / "samflode-load-tokens.json"
    if args.keep and tokens_file.is_file():
        tokens, persons = json.loads(tokens_file.read_text())
    else:
        reset(args.database)
        real = min(args.cases, args.real_cases)
        print(f"seeding {args.cases} open cases ({real} through the runtime) ...", flush=True)
        t = time.perf_counter()
        tokens, persons = seed(args.database, args.cases, args.real_cases, args.units)
        tokens_file.write_text(json.dumps([tokens, persons]))
        print(f"  seeded in {time.perf_counter() - t:.0f} s", flush=True)
    # Fresh statistics, as autovacuum would have them in a database that grew over months: without them the planner
    # takes the seeded tables for empty (the worklist's notification query took 1.7 s instead of milliseconds).
    accounts = staff_accounts(args.database, args.users, args.units)
    db = Database(args.database)
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    db.dispose()

    if args.seed_only:
        return
    wait_min, wait_max = args.wait.split(",")
    env = {
        **os.environ,
        "DATABASE_URL": args.database,
        "SAMFLODE_CLOCK": "real",
        "SAMFLODE_MIGRATE": "off",
        "SAMFLODE_SCHEDULER": "off",
        "SAMFLODE_SCHEDULERS": str(args.schedulers),
        "SAMFLODE_SECRET_KEY": os.environ.get("SAMFLODE_SECRET_KEY", "load-bench-" + "x" * 40),
        "SAMFLODE_PROCESSES_DIR": str(ROOT / "processes"),
        "SAMFLODE_LOAD_TOKENS": json.dumps(tokens),
        "SAMFLODE_LOAD_STAFF": json.dumps(accounts),
        "SAMFLODE_LOAD_PERSONS": json.dumps(persons),
        "SAMFLODE_LOAD_PASSWORD": DEMO_PASSWORD,
        "SAMFLODE_LOAD_WAIT_MIN": wait_min,
        "SAMFLODE_LOAD_WAIT_MAX": wait_max,
        "PYTHONPATH": str(ROOT),
    }
    samflode = Path(sys.executable).with_name("samflode")
    schedulers = [
        subprocess.Popen(
            [str(samflode), "scheduler"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(args.schedulers)
    ]
    results: dict[int, dict] = {}
    try:
        for workers in [int(w) for w in args.web.split(",")]:
            host = f"http://127.0.0.1:{args.port}"
            web = start_web(env, args.port, workers, args.threads)
            try:
                wait_ready(host)
                since = datetime.now(UTC)
                prefix = str(Path(tempfile.gettempdir()) / f"samflode-load-{workers}")
                print(
                    f"\n{workers} web process(es), {args.schedulers} schedulers, {args.users} staff, {args.duration} s",
                    flush=True,
                )
                rows = locust(host, env, args.users, args.duration, args.warmup, prefix)
                time.sleep(10)  # the last 2-second timers fall due and fire
                timers = timer_figures(args.database, since - timedelta(seconds=1))
            finally:
                web.send_signal(signal.SIGTERM)
                web.wait(timeout=30)
            results[workers] = {"rows": rows, "timers": timers}
            print(f"  {'endpoint':36s} {'count':>7s} {'fail':>5s} {'rps':>7s} {'p50':>6s} {'p95':>6s} {'p99':>6s}")
            for row in rows:
                print(
                    f"  {row['Name'][:36]:36s} {row['Request Count']:>7s} {row['Failure Count']:>5s} "
                    f"{float(row['Requests/s']):7.1f} {row['50%']:>6s} {row['95%']:>6s} {row['99%']:>6s}"
                )
            print(
                f"  timers: {timers['timers']} started, {timers['fired']} fired, {timers['lost']} lost, "
                f"{timers['doubled']} doubled; lateness p50 {timers['p50'] * 1000:.0f} ms, "
                f"p99 {timers['p99'] * 1000:.0f} ms, max {timers['max'] * 1000:.0f} ms",
                flush=True,
            )
    finally:
        for proc in schedulers:
            proc.send_signal(signal.SIGINT)
        for proc in schedulers:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def total(workers: int) -> dict[str, str]:
        return next(r for r in results[workers]["rows"] if r["Name"] == "Aggregated")

    if results:
        base = min(results)
        print("\nscaling (throughput relative to the smallest run; p95 of all requests):")
        for workers in sorted(results):
            agg = total(workers)
            ratio = float(agg["Requests/s"]) / max(1e-9, float(total(base)["Requests/s"]))
            print(
                f"  {workers} web: {float(agg['Requests/s']):.1f} req/s (x{ratio:.2f}), p95 {agg['95%']} ms, "
                f"errors {agg['Failure Count']}/{agg['Request Count']}"
            )


if __name__ == "__main__":
    main()
