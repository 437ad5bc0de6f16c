"""Locust users for bench/load.py (run by it; not on its own). Staff at their worklists and a journal system.

Staff (vårdplanerare on two wards, vårdsamordnare at two vårdcentraler) sign in with the demo password and, with a
think time between actions: look at the worklist page, open a task page, complete a task through the API with data
that fits its form, and search a person by personnummer. The journal system sends inskrivning messages (new cases)
and starts cases of `load_timer`, whose one timer falls due 2 s later (lost, doubled and late timers are counted by
bench/load.py from the history afterwards). A 409 on completing (a colleague completed it first) is not an error.
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import gevent
from locust import HttpUser, between, events, task
from locust.env import Environment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.domain.clock import STOCKHOLM  # noqa: E402
from tests.webui.staff import valid_data  # noqa: E402  (the one way to fill a form with valid data)

TOKENS: dict[str, str] = json.loads(os.environ.get("SAMFLODE_LOAD_TOKENS", "{}"))
PASSWORD = os.environ.get("SAMFLODE_LOAD_PASSWORD", "samflode-demo")
PERSONS: dict[str, list[str]] = json.loads(os.environ.get("SAMFLODE_LOAD_PERSONS", "{}"))

# One account per simulated staff member (bench/load.py makes them): {username: {token, unit}}.
ACCOUNTS: dict[str, dict[str, str]] = json.loads(os.environ.get("SAMFLODE_LOAD_STAFF", "{}"))
_NEXT = iter(sorted(ACCOUNTS))
WAIT = (float(os.environ.get("SAMFLODE_LOAD_WAIT_MIN", "1")), float(os.environ.get("SAMFLODE_LOAD_WAIT_MAX", "3")))
# Seconds after the last user has started before the figures count: sign-in (argon2, deliberately ~0.25 CPU-s each)
# of every staff member at once is a morning's sign-ins in a few seconds, not the working day the mix stands for.
WARMUP = float(os.environ.get("SAMFLODE_LOAD_WARMUP", "0"))
_ENVIRONMENT: list[Environment] = []


@events.init.add_listener
def _keep_environment(environment: Environment, **_: object) -> None:
    _ENVIRONMENT.append(environment)


@events.spawning_complete.add_listener
def _count_from_after_warmup(user_count: int, **_: object) -> None:
    if WARMUP > 0 and _ENVIRONMENT and _ENVIRONMENT[0].stats is not None:
        gevent.spawn_later(WARMUP, _ENVIRONMENT[0].stats.reset_all)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FORMS: dict[str, dict] = {}


def form_schema(name: str | None) -> dict:
    if not name:
        return {}
    if name not in FORMS:
        path = ROOT / "processes" / "forms" / f"{name}.json"
        FORMS[name] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return FORMS[name]


class Staff(HttpUser):
    weight = 25
    wait_time = between(*WAIT)

    def on_start(self) -> None:
        self.username = next(_NEXT, None) or random.choice(sorted(ACCOUNTS))
        self.unit = ACCOUNTS[self.username]["unit"]
        self.auth = {"Authorization": f"Bearer {ACCOUNTS[self.username]['token']}"}
        page = self.client.get("/logga-in", name="/logga-in")
        token = CSRF.search(page.text)
        self.client.post(
            "/logga-in",
            data={"username": self.username, "password": PASSWORD, "csrf_token": token.group(1) if token else ""},
            name="/logga-in (POST)",
            allow_redirects=False,
        )
        self.csrf = ""
        self.tasks_seen: list[dict] = []

    def _task_list(self) -> list[dict]:
        answer = self.client.get("/api/v1/tasks?limit=50", headers=self.auth, name="/api/v1/tasks")
        if answer.ok:
            self.tasks_seen = answer.json().get("items", [])
        return self.tasks_seen

    @task(5)
    def worklist(self) -> None:
        page = self.client.get("/arbetslista", name="/arbetslista")
        found = CSRF.search(page.text)
        if found:
            self.csrf = found.group(1)
        if "/arbetslista/antal" in page.text:  # the browser asks for the tabs' counts once the list is shown (htmx)
            self.client.get("/arbetslista/antal", headers={"HX-Request": "true"}, name="/arbetslista/antal")

    @task(3)
    def open_task(self) -> None:
        items = self.tasks_seen or self._task_list()
        if items:
            chosen = random.choice(items)
            with self.client.get(f"/uppgifter/{chosen['id']}", name="/uppgifter/[id]", catch_response=True) as answer:
                if answer.status_code == 404:
                    answer.success()  # completed by a colleague since the list was read
                    self.tasks_seen = [t for t in self.tasks_seen if t["id"] != chosen["id"]]

    @task(2)
    def complete(self) -> None:
        items = self._task_list()
        if not items:
            return
        chosen = random.choice(items)
        data = valid_data(form_schema(chosen.get("form")), today=datetime.now(STOCKHOLM).date())
        with self.client.post(
            f"/api/v1/tasks/{chosen['id']}/complete",
            json={"data": data},
            headers=self.auth,
            name="/api/v1/tasks/[id]/complete",
            catch_response=True,
        ) as answer:
            if answer.status_code in (404, 409):
                answer.success()  # a colleague completed or took it first: the normal race of a shared worklist
        self.tasks_seen = [t for t in self.tasks_seen if t["id"] != chosen["id"]]

    @task(2)
    def search(self) -> None:
        """A person of one's own unit (need to know: others' are not found, by design)."""
        mine = PERSONS.get(self.unit) or []
        if not mine:
            return
        if not self.csrf:
            self.worklist()
        self.client.post(
            "/personer/sok",
            data={"personnummer": random.choice(mine), "csrf_token": self.csrf},
            name="/personer/sok",
        )


def _personnummer() -> str:
    from webui.demo import personnummer

    birth = f"19{random.randint(25, 55)}{random.randint(1, 12):02d}{random.randint(1, 28):02d}"
    return personnummer(birth, f"{random.randint(0, 999):03d}")


class Journal(HttpUser):
    """The journal system: a new inskrivning and a 2-second timer about once a second each."""

    fixed_count = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.auth = {"Authorization": f"Bearer {TOKENS['journal']}"}

    @task
    def inskrivning(self) -> None:
        pnr = _personnummer()
        stay = f"VT-{uuid.uuid4().hex[:12]}"
        ward = random.choice(("SE2321000057-HSMEDGER", "SE2321000057-RYMED1"))
        vc = random.choice(("SE2321000057-VCEKSJO", "SE2321000057-VCRASLATT"))
        self.client.post(
            "/api/v1/messages",
            json={
                "name": "inskrivning",
                "message_id": f"load-{uuid.uuid4().hex}",
                "correlation": {"personnummer": pnr, "vardtillfalle_id": stay},
                "data": {
                    "personnummer": pnr,
                    "namn": "Last Testsson",
                    "vardtillfalle_id": stay,
                    "avdelning_hsa_id": ward,
                    "kommun": "Eksjö",
                    "vardcentral_hsa_id": vc,
                    "avtal": "jonkoping",
                    "inskrivningstid": datetime.now(UTC).isoformat(),
                },
            },
            headers=self.auth,
            name="/api/v1/messages",
        )

    @task
    def timer(self) -> None:
        self.client.post(
            "/api/v1/instances",
            json={"process_id": "load_timer", "business_key": f"timer-{uuid.uuid4().hex[:12]}", "data": {}},
            headers=self.auth,
            name="/api/v1/instances (timer)",
        )
