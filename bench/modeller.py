"""The modeller's server side on the largest real diagram (processes/in_utskrivning.bpmn, about 60 activities), through
the Flask app with a signed-in session and its CSRF token, as the page calls it:

    .venv/bin/python bench/modeller.py [--database postgresql://postgres@127.0.0.1/samflode_bench] [--runs 50]

Timed (in-process test client, so app + database time without the network): the autosave of a draft
(PUT /api/v1/drafts/{id} with the whole XML), the list of drafts, the dry-run check (POST /definitions/check), the
diff of two versions with its sequence flows (GET /definitions/in_utskrivning/diff?from=1&to=2), and of that the part
spent reading the flows of both versions. Prints median and p95 in ms and the XML size. The database is emptied first
(SQLite in a temporary folder by default).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.bpmn.flows import sequence_flows  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.domain.actors import Actor  # noqa: E402
from engine.domain.clock import SimulatedClock  # noqa: E402
from engine.platform import build  # noqa: E402
from tests.conftest import truncate_all  # noqa: E402
from webui import create_app  # noqa: E402

OWNER = Actor("agnes", frozenset({"process_owner"}), name="Agnes")
CSRF = "bench-csrf"


def timed(runs: int, call: Callable[[], Any]) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(round(0.95 * len(samples))) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default=None)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    database = args.database or f"sqlite:///{tempfile.mkdtemp()}/modeller.db"
    settings = Settings(
        database_url=database, clock="simulated", processes_dir=ROOT / "processes", scheduler=False
    ).checked()
    platform = build(settings, clock=SimulatedClock())
    truncate_all(platform.db)
    xml = (ROOT / "processes" / "in_utskrivning.bpmn").read_bytes()
    for name in ("sip", "mobilt_team"):
        platform.runtime.deploy((ROOT / "processes" / f"{name}.bpmn").read_bytes(), OWNER)
    platform.runtime.deploy(xml, OWNER, comment="v1")
    changed = xml.replace(b'name="Registrera inskrivning"', b'name="Registrera inskrivningen"', 1)
    platform.runtime.deploy(changed, OWNER, comment="v2")
    with platform.db.unit_of_work() as session:
        platform.directory.create_user(session, "agnes", "Agnes", ["process_owner"], [], at=platform.clock.now())

    app = create_app({"TESTING": True}, platform=platform)
    client = app.test_client()
    with client.session_transaction() as session:
        session["user"] = "agnes"
        session["csrf"] = CSRF
    headers = {"X-CSRF-Token": CSRF}
    text = xml.decode("utf-8")
    body = {"process_id": "in_utskrivning", "name": "In- och utskrivning", "base_version": 2, "xml": text}
    created = client.post("/api/v1/drafts", json=body, headers=headers)
    assert created.status_code == 201, created.get_json()
    draft_id = created.get_json()["id"]

    def autosave() -> None:
        assert client.put(f"/api/v1/drafts/{draft_id}", json=body, headers=headers).status_code == 200

    def drafts() -> None:
        assert client.get("/api/v1/drafts").status_code == 200

    def check() -> None:
        response = client.post(
            "/api/v1/definitions/check", data=xml, headers={**headers, "Content-Type": "application/xml"}
        )
        assert response.status_code == 200 and response.get_json()["errors"] == 0

    def diff() -> None:
        response = client.get("/api/v1/definitions/in_utskrivning/diff?from=1&to=2")
        assert response.status_code == 200 and len(response.get_json()["changed"]) == 1

    def flows() -> None:
        sequence_flows(xml)
        sequence_flows(changed)

    print(f"in_utskrivning.bpmn: {len(xml) / 1024:.0f} KiB, {len(sequence_flows(xml))} sequence flows; {database}")
    print(f"{'call':<34}{'median ms':>10}{'p95 ms':>10}")
    for label, call, runs in (
        ("autosave PUT /drafts/{id}", autosave, args.runs),
        ("GET /drafts", drafts, args.runs),
        ("POST /definitions/check", check, max(5, args.runs // 5)),
        ("GET diff (elements + flows)", diff, args.runs),
        ("  of which flows of both versions", flows, args.runs),
    ):
        median, p95 = timed(runs, call)
        print(f"{label:<34}{median:>10.1f}{p95:>10.1f}")
    platform.close()


if __name__ == "__main__":
    main()
