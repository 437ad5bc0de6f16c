"""Worklist benchmark on PostgreSQL: N open in_utskrivning instances and a county-sized directory, the app served by
waitress on loopback, measured with a real HTTP client (http.client, one keep-alive connection per user).

    .venv/bin/python bench/worklist.py --database postgresql://postgres@127.0.0.1/samflode_bench --sizes 10000,100000

For each size the database is emptied (schema dropped), migrated, the demo loaded (processes, Jönköping directory,
three cases), then:
- a directory the size of Jönköping county is added with SQL: 46 vårdcentraler across the 13 kommuner with three
  vårdsamordnare each, 12 wards with five vårdplanerare each, hemsjukvård and socialtjänst per kommun;
- REAL_CASES cases are started through the runtime on the demo ward (their ward tasks are completed over HTTP below);
- the other instances are generated in bulk with SQL (not through the runtime): instance rows with varied data
  (person, ward, vårdcentral, kommun) and the open tasks a case has after its inskrivningsmeddelande (copied from a
  real case, units rewritten per lane, due times spread so that some are overdue), plus correlation rows. Their
  workflow state is a placeholder: the worklist reads index tables only, never a workflow, and they are never
  advanced.
Timed (round trip over loopback, client side, so an upper bound on server time): the worklist page (/arbetslista,
Min enhet, 50 rows), the tabs' counts it asks for after its list (/arbetslista/antal, htmx) and the worklist API
(GET /api/v1/tasks) as a vårdsamordnare and as the coordinator, and the
completion of a task from the page (POST of the task form) and through the API (POST /api/v1/tasks/{id}/complete),
alternating, both through Runtime.complete_task. Prints median and p95 in ms, and the page/API ratios of one run.
"""

from __future__ import annotations

import argparse
import http.client
import re
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from argon2 import PasswordHasher  # noqa: E402

from engine.commands.accounts import Accounts  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.domain.actors import SYSTEM_ACTOR  # noqa: E402
from engine.domain.clock import SimulatedClock  # noqa: E402
from engine.platform import Platform, build  # noqa: E402
from webui import create_app  # noqa: E402
from webui.demo import DEMO_PASSWORD, load_demo, personnummer  # noqa: E402

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
REAL_CASES = 120
KOMMUNER = [
    ("Aneby", "SE2120000001"), ("Eksjö", "SE2120000002"), ("Gislaved", "SE2120000003"), ("Gnosjö", "SE2120000004"),
    ("Habo", "SE2120000005"), ("Jönköping", "SE2120000006"), ("Mullsjö", "SE2120000007"), ("Nässjö", "SE2120000008"),
    ("Sävsjö", "SE2120000009"), ("Tranås", "SE2120000010"), ("Vaggeryd", "SE2120000011"), ("Vetlanda", "SE2120000012"),
    ("Värnamo", "SE2120000013"),
]  # fmt: skip
DIRECTORY_SQL = [
    """
    INSERT INTO org_units (hsa_id, name, kind, kommun, created_at, updated_at)
    SELECT 'SE2321000057-BVC' || g, 'Vårdcentral ' || g, 'vardcentral', k.kommun, :now, :now
      FROM generate_series(1, 46) g
      JOIN (SELECT row_number() OVER () - 1 AS i, kommun FROM unnest(CAST(:kommuner AS text[])) kommun) k
        ON k.i = g % 13
    ON CONFLICT (hsa_id) DO NOTHING
    """,
    """
    INSERT INTO org_units (hsa_id, name, kind, kommun, created_at, updated_at)
    SELECT 'SE2321000057-BAVD' || g, 'Avdelning ' || g, 'avdelning', NULL, :now, :now
      FROM generate_series(1, 12) g ON CONFLICT (hsa_id) DO NOTHING
    """,
    """
    INSERT INTO users (username, name, roles, units, active, created_at, password_hash)
    SELECT 'vs' || g || '_' || n, 'Vårdsamordnare ' || g || '/' || n, '["vardsamordnare"]',
           jsonb_build_array('SE2321000057-BVC' || g), true, :now, NULL
      FROM generate_series(1, 46) g, generate_series(1, 3) n
    """,
    """
    INSERT INTO users (username, name, roles, units, active, created_at, password_hash)
    SELECT 'vp' || g || '_' || n, 'Vårdplanerare ' || g || '/' || n, '["vardplanerare"]',
           jsonb_build_array('SE2321000057-BAVD' || g), true, :now, NULL
      FROM generate_series(1, 12) g, generate_series(1, 5) n
    """,
]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def reset(url: str) -> None:
    from engine.persistence.db import Database

    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.engine.dispose()


def directory(p: Platform) -> None:
    """46 vårdcentraler, 12 wards, a hemsjukvård and socialtjänst unit per kommun, and their staff, in SQL."""
    with p.db.unit_of_work() as s:
        now = p.clock.now()
        for statement in DIRECTORY_SQL:
            s.execute(text(statement), {"now": now, "kommuner": [k for k, _ in KOMMUNER]})


def real_cases(p: Platform) -> None:
    for i in range(REAL_CASES):
        pnr = personnummer(f"1940{(i % 12) + 1:02d}{(i % 28) + 1:02d}", f"{i % 1000:03d}")
        p.runtime.send_message(
            "inskrivning",
            f"bench-{i}",
            {"personnummer": pnr, "vardtillfalle_id": f"VT-B{i}"},
            {
                "personnummer": pnr,
                "namn": f"Bench Person {i}",
                "vardtillfalle_id": f"VT-B{i}",
                "avdelning_hsa_id": "SE2321000057-HSMEDGER",
                "kommun": "Eksjö",
                "vardcentral_hsa_id": "SE2321000057-VCEKSJO",
                "inskrivningstid": p.clock.now().isoformat(),
                "avtal": "jonkoping",
            },
            SYSTEM_ACTOR,
        )


def bulk_instances(p: Platform, count: int) -> None:
    """`count` instances in SQL, each with the open tasks of Esther's case after her inskrivningsmeddelande, and
    the case's units in their columns as the projectors keep them (the coordinator's need to know reads them: without
    them the coordinator oversaw 123 cases of 100 000 and the page scanned every task to find them)."""
    from tests.webui.staff import advance_ward, valid_data

    task = advance_ward(p, 1)
    p.runtime.complete_task(task["id"], valid_data(p.catalog.form(task["form"]) or {}), SYSTEM_ACTOR)
    with p.db.unit_of_work() as s:
        s.execute(text("CREATE TEMP TABLE template ON COMMIT DROP AS SELECT * FROM task_index WHERE instance_id = 1"))
        s.execute(
            text(
                """
            INSERT INTO process_instances (definition_id, process_id, version, business_key, status, started_at,
                                           updated_at, started_by, data, state, serializer_version, lock_version,
                                           kommun, vardcentral, avdelning)
            SELECT i.definition_id, i.process_id, i.version, 'bulk-' || g, 'waiting',
                   i.started_at - make_interval(mins => g % 4000), i.updated_at, 'bench',
                   jsonb_build_object(
                     'personnummer',
                       to_char(date '1930-01-01' + (g % 20000), 'YYYYMMDD') || '-' || lpad((g % 9999)::text, 4, '0'),
                     'namn', 'Person ' || g,
                     'kommun', (CAST(:kommuner AS text[]))[1 + g % 13],
                     'vardcentral_hsa_id', 'SE2321000057-BVC' || (1 + g % 46),
                     'avdelning_hsa_id', 'SE2321000057-BAVD' || (1 + g % 12),
                     'vardtillfalle_id', 'VT-X' || g, 'avtal', 'jonkoping'),
                   '{}', i.serializer_version, 1,
                   (CAST(:kommuner AS text[]))[1 + g % 13], 'SE2321000057-BVC' || (1 + g % 46),
                   'SE2321000057-BAVD' || (1 + g % 12)
              FROM process_instances i, generate_series(1, :count) g
             WHERE i.id = 1
            """
            ),
            {"count": count, "kommuner": [k for k, _ in KOMMUNER]},
        )
        s.execute(
            text(
                """
            INSERT INTO task_index (id, instance_id, process_id, business_key, element_id, name, lane, role, form,
                                    unit, created_at, due_at, claimed_by)
            SELECT gen_random_uuid()::text, i.id, t.process_id, i.business_key, t.element_id, t.name, t.lane, t.role,
                   t.form,
                   CASE WHEN t.unit = 'SE2321000057-HSMEDGER' THEN i.data->>'avdelning_hsa_id'
                        WHEN t.unit = 'SE2321000057-VCEKSJO' THEN i.data->>'vardcentral_hsa_id'
                        WHEN t.unit = 'Eksjö' THEN i.data->>'kommun'
                        ELSE t.unit END,
                   i.started_at, t.due_at + make_interval(mins => (i.id * 37) % 7200 - 3600), NULL
              FROM process_instances i CROSS JOIN template t
             WHERE i.business_key LIKE 'bulk-%'
            """
            )
        )
        s.execute(
            text(
                """
            INSERT INTO instance_correlations (instance_id, name, value)
            SELECT id, 'personnummer', data->>'personnummer' FROM process_instances WHERE business_key LIKE 'bulk-%'
            """
            )
        )
    with p.db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


class Client:
    """One keep-alive HTTP/1.1 connection with a cookie jar of one cookie."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""

    def request(
        self, method: str, path: str, body: dict[str, str] | str | None = None, headers: dict[str, str] | None = None
    ):  # type: ignore[no-untyped-def]
        all_headers = dict(headers or {})
        if self.cookie:
            all_headers["Cookie"] = self.cookie
        data = None
        if isinstance(body, str):  # JSON, already encoded
            data = body
            all_headers["Content-Type"] = "application/json"
        elif body is not None:
            data = urlencode(body)
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        self.conn.request(method, path, body=data, headers=all_headers)
        response = self.conn.getresponse()
        payload = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, payload.decode("utf-8", "replace"), elapsed

    def sign_in(self, username: str) -> str:
        _, html, _ = self.request("GET", "/logga-in")
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]
        status, _, _ = self.request("POST", "/logga-in", {"username": username, "password": DEMO_PASSWORD,
                                                          "csrf_token": token})  # fmt: skip
        assert status == 303, status
        _, html, _ = self.request("GET", "/arbetslista")
        return CSRF.search(html).group(1)  # type: ignore[union-attr]


def figures(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"median {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   (n={len(ordered)})"


def median_of(figure: str) -> float:
    return float(figure.split()[1])


def run(url: str, size: int, repeats: int, threads: int) -> dict[str, str]:
    reset(url)
    clock = SimulatedClock()  # Monday 2026-01-12 08:00, Europe/Stockholm
    settings = Settings(database_url=url, clock="simulated", scheduler=False).checked()
    p = build(settings, clock=clock)
    started = time.perf_counter()
    load_demo(p, FAST)
    directory(p)
    with p.db.unit_of_work() as s:
        s.execute(text("UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE username = 'vilma')"))
    bulk_instances(p, size - 3 - REAL_CASES)
    real_cases(p)
    clock.advance(timedelta(hours=2))
    with p.db.read() as s:
        instances = s.scalar(text("SELECT count(*) FROM process_instances"))
        tasks = s.scalar(text("SELECT count(*) FROM task_index"))
    print(f"\n{size}: {instances} instances, {tasks} open tasks, generated in {time.perf_counter() - started:.0f} s")

    from waitress.server import create_server

    app = create_app({"TESTING": False}, platform=p)
    app.extensions["samflode_accounts"] = Accounts(p.db, p.clock, p.directory, FAST)
    server = create_server(app, host="127.0.0.1", port=0, threads=threads)
    port = server.effective_port  # type: ignore[union-attr]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    out: dict[str, str] = {}
    try:
        with p.db.unit_of_work() as s:
            tokens = {u: p.directory.create_token(s, u, at=p.clock.now()) for u in ("vilma", "cora")}
        for username, label in (("vilma", "vårdsamordnare"), ("cora", "coordinator")):
            client = Client(port)
            client.sign_in(username)
            for name, path, headers in (
                ("page", "/arbetslista?vy=enhet", {}),
                ("counts", "/arbetslista/antal", {"HX-Request": "true"}),  # the tabs' counts, asked after the list
                ("api", "/api/v1/tasks?limit=50", {"Authorization": f"Bearer {tokens[username]}"}),
            ):
                samples = []
                for i in range(repeats + 5):
                    status, body, ms = client.request("GET", path, headers=headers)
                    assert status == 200, (status, body[:300])
                    if i >= 5:  # warm-up
                        samples.append(ms)
                out[f"{name} {label}"] = figures(samples)
        vera = Client(port)
        token = vera.sign_in("vera")
        with p.db.read() as s:
            ids = list(
                s.scalars(
                    text(
                        "SELECT t.id FROM task_index t JOIN process_instances i ON i.id = t.instance_id "
                        "WHERE i.data->>'namn' LIKE 'Bench Person%' AND t.element_id = 'registrera_inskrivning'"
                    )
                )
            )
        # Every other task completed from the page (the form's POST), the others through the API, alternating so
        # that both meet the same database.
        with p.db.unit_of_work() as s:
            vera_token = p.directory.create_token(s, "vera", at=p.clock.now())
        samples, api_samples = [], []
        for i, task_id in enumerate(ids):
            if i % 2:
                body = '{"data": {"inskrivningsorsak": "Fall i hemmet", "aterinlaggning_inom_30_dagar": false}}'
                status, answer, ms = vera.request(
                    "POST", f"/api/v1/tasks/{task_id}/complete", body, {"Authorization": f"Bearer {vera_token}"}
                )
                assert status == 200, (status, answer[:500])
                api_samples.append(ms)
                continue
            status, answer, ms = vera.request(
                "POST",
                f"/uppgifter/{task_id}",
                {"csrf_token": token, "action": "complete", "inskrivningsorsak": "Fall i hemmet",
                 "aterinlaggning_inom_30_dagar": "nej"},
            )  # fmt: skip
            assert status == 303, (status, answer[:500])
            samples.append(ms)
        out["complete a task"] = figures(samples)
        out["complete a task (API)"] = figures(api_samples)
        for label in ("vårdsamordnare", "coordinator"):
            ratio = median_of(out[f"page {label}"]) / median_of(out[f"api {label}"])
            out[f"page/API {label}"] = f"{ratio:.2f}x (goal 2x)"
            page_and_counts = median_of(out[f"page {label}"]) + median_of(out[f"counts {label}"])
            both = page_and_counts / median_of(out[f"api {label}"])
            out[f"page+counts/API {label}"] = f"{both:.2f}x (the server's whole work for the page)"
        ratio = median_of(out["complete a task"]) / median_of(out["complete a task (API)"])
        out["complete page/API"] = f"{ratio:.2f}x (goal 2x)"
    finally:
        server.close()
        p.close()
    for key, value in out.items():
        print(f"  {key:32s} {value}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="postgresql://... (emptied!)")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    if not args.database.startswith("postgresql"):
        parser.error("PostgreSQL only: the bulk generator uses its SQL")
    results = {int(n): run(args.database, int(n), args.repeats, args.threads) for n in args.sizes.split(",")}
    print("\nsummary")
    for size, out in results.items():
        for key, value in out.items():
            print(f"  {size:>7}  {key:32s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
