"""Helpers for the staff pages: a platform with the real processes and the demo directory, and signing in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import pytest
from argon2 import PasswordHasher

from engine.commands.accounts import Accounts
from engine.config import PROJECT_ROOT, Settings
from engine.domain.clock import STOCKHOLM
from engine.platform import Platform, build
from tests.conftest import task_list, truncate_all
from webui import create_app
from webui.demo import DEMO_PASSWORD, load_demo

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # fast hashes, for tests only
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def demo(database_url: str, clock) -> Iterator[Platform]:  # type: ignore[no-untyped-def]
    settings = Settings(
        database_url=database_url, clock="simulated", processes_dir=PROJECT_ROOT / "processes", scheduler=False
    ).checked()
    p = build(settings, clock=clock, migrate=False)
    truncate_all(p.db)
    load_demo(p, FAST_HASHER)
    yield p
    p.close()


@pytest.fixture
def demo_app(demo: Platform):  # type: ignore[no-untyped-def]
    app = create_app({"TESTING": True}, platform=demo)
    app.extensions["samflode_accounts"] = Accounts(demo.db, demo.clock, demo.directory, FAST_HASHER)
    return app


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(app, username: str, password: str = DEMO_PASSWORD):  # type: ignore[no-untyped-def]
    client = app.test_client()
    token = csrf_of(client.get("/logga-in").get_data(as_text=True))
    response = client.post("/logga-in", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


def page_token(client, path: str = "/arbetslista") -> str:  # type: ignore[no-untyped-def]
    return csrf_of(client.get(path).get_data(as_text=True))


def valid_data(  # type: ignore[type-arg]
    schema: dict, vardcentral: str = "SE2321000057-VCEKSJO", today: date = date(2026, 1, 12)
) -> dict:
    """Data that fits a form: required fields, every choice and yes/no (yes, except 'återinläggning'); a date two
    days after `today` (the demo's clock, or the real one in bench/load_users.py) and a time on `today`."""
    out: dict = {}  # type: ignore[type-arg]
    for key, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type")
        if key not in (schema.get("required") or []) and "enum" not in prop and kind != "boolean":
            continue
        if prop.get("format") == "hsa-id":
            out[key] = vardcentral
        elif kind == "boolean":
            out[key] = not key.startswith("aterinlaggning")
        elif "enum" in prop:
            out[key] = prop["enum"][0]
        elif prop.get("format") == "date":
            out[key] = (today + timedelta(days=2)).isoformat()
        elif prop.get("format") == "date-time":
            out[key] = datetime.combine(today, time(10, 0), tzinfo=STOCKHOLM).isoformat()
        elif kind == "array":
            out[key] = [((prop.get("items") or {}).get("enum") or ["x"])[0]]
        elif kind == "integer":
            out[key] = 1
        else:
            out[key] = "Test"
    return out


WARD_STEPS = ("Registrera inskrivning", "Bedöma behov av insatser efter utskrivning")
INSKRIVNINGSMEDDELANDE = "Skicka inskrivningsmeddelande"


def advance_ward(p: Platform, instance_id: int, until: str = INSKRIVNINGSMEDDELANDE) -> dict:  # type: ignore[type-arg]
    """Complete the ward's tasks of a case (as the system) until the task named `until` is ready; return it."""
    from engine.domain.actors import SYSTEM_ACTOR

    for _ in range(10):
        tasks = [t for t in task_list(p, SYSTEM_ACTOR, limit=500)["items"] if t["instance_id"] == instance_id]
        ward = [t for t in tasks if t["lane"] == "Slutenvård"]
        if any(t["name"] == until for t in ward):
            return next(t for t in ward if t["name"] == until)
        task = ward[0]
        p.runtime.complete_task(task["id"], valid_data(p.catalog.form(task["form"]) or {}), SYSTEM_ACTOR)
    raise AssertionError(f"{until} never became ready")
