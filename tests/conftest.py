"""Shared fixtures. The database is SQLite in a temporary folder by default, or the PostgreSQL named by
TEST_DATABASE_URL (CI runs the suite on both). Tests marked `postgres` need PostgreSQL: skipped on a laptop without
it, a failure in CI (CI=true)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text

from engine.config import Settings
from engine.domain.actors import SYSTEM_ACTOR, Actor
from engine.domain.clock import STOCKHOLM, SimulatedClock
from engine.persistence.db import Database
from engine.persistence.models import Base
from engine.platform import Platform, build

FIXTURES = Path(__file__).parent / "fixtures"

# Property-based tests (issue 13): one fixed, derandomized profile, so that a run is repeatable and its time known;
# no example database left in the work tree. SAMFLODE_HYPOTHESIS_EXAMPLES raises the count for a longer local hunt.
hypothesis_settings.register_profile(
    "samflode",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=int(os.environ.get("SAMFLODE_HYPOTHESIS_EXAMPLES", "60")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
hypothesis_settings.load_profile("samflode")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Every stored workflow state is checked against SpiffWorkflow's own full serialization (issue 16: a step writes
# only the tasks it changed; engine/bpmn/workflow.py StateWriter), and every restored workflow against SpiffWorkflow's
# own restore of its tasks (engine/bpmn/restoring.py). SAMFLODE_VERIFY_DUMPS=0 turns both off.
if os.environ.get("SAMFLODE_VERIFY_DUMPS", "1") != "0":
    import engine.bpmn.workflow as _workflow

    _workflow.VERIFY_DUMPS = True
    _workflow.VERIFY_RESTORES = True


def _reset_postgres(url: str) -> None:
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        _reset_postgres(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    db = Database(url)
    db.upgrade()
    db.dispose()
    return url


def truncate_all(db: Database) -> None:
    """Empty every table between tests, as the database's owner: the access log refuses this to the application
    (migration 0014), so its guard is stepped around here (PostgreSQL: triggers do not fire for a replica session;
    SQLite: its triggers are dropped and made again from their own stored SQL)."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
        else:
            guards = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'access_log'")
            ).all()
            for name, _ in guards:
                conn.execute(text(f"DROP TRIGGER {name}"))
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))
            for _, sql in guards:
                conn.execute(text(sql))


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2026, 1, 12, 8, 0, tzinfo=STOCKHOLM))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, clock="simulated", processes_dir=FIXTURES / "catalog", scheduler=False
    ).checked()


@pytest.fixture
def platform(settings: Settings, clock: SimulatedClock) -> Iterator[Platform]:
    p = build(settings, clock=clock, migrate=False)
    truncate_all(p.db)
    yield p
    p.close()


# The region of the test units (organisation number 2321000057): overseeing roles see the cases of its wards and
# vårdcentraler (engine/reads/policy.py).
REGION = "SE2321000057-REGION"
# The platform itself (not a person, not limited by need to know): drives cases in tests as the scheduler would.
ENGINE = SYSTEM_ACTOR
ADMIN = Actor("admin", frozenset({"admin"}), name="Admin")
OWNER = Actor("agnes", frozenset({"process_owner"}), name="Agnes Processägare")
COORDINATOR = Actor("cora", frozenset({"coordinator"}), frozenset({REGION}), name="Cora Samordnare")
SYSTEM = Actor("journal", frozenset({"system"}), frozenset({REGION}), name="Journalsystemet")
WARD = Actor("vera", frozenset({"vardplanerare"}), frozenset({"SE2321000057-ward1"}), name="Vera Vårdplanerare")
VC = Actor("vilma", frozenset({"vardsamordnare"}), frozenset({"SE2321000057-vc1"}), name="Vilma Vårdsamordnare")
OTHER_VC = Actor("otto", frozenset({"vardsamordnare"}), frozenset({"SE2321000057-vc2"}), name="Otto")


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def require_postgres() -> str:
    """A PostgreSQL URL for tests that need PostgreSQL whatever the suite's database: TEST_POSTGRES_URL, or
    TEST_DATABASE_URL when that is PostgreSQL."""
    url = os.environ.get("TEST_POSTGRES_URL") or os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        if IN_CI:
            pytest.fail("CI must run this test on PostgreSQL: set TEST_POSTGRES_URL")
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL)")
    return url


@pytest.fixture
def postgres_platform(settings: Settings, clock: SimulatedClock) -> Iterator[Platform]:
    """A platform on PostgreSQL whatever the suite's own database (row locks, SKIP LOCKED and advisory locks across
    real connections): migrated and emptied, closed after the test. Skips on a laptop without it, fails in CI."""
    p = build(replace(settings, database_url=require_postgres()), clock=clock, migrate=True)
    truncate_all(p.db)
    yield p
    p.close()


# --- reads as plain data (the API's shape: times as ISO text), for tests that look into a case -------------------
def as_plain(value: Any) -> Any:
    """A read's typed result as JSON-like data: dataclasses as dicts, times as ISO text, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: as_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_plain(v) for v in value]
    return value


def instance_view(platform: Platform, instance_id: int, actor: Actor = ENGINE) -> dict[str, Any]:
    """One case as `actor` may see it (engine/reads/cases.py), as plain data."""
    return as_plain(platform.reads.cases.view(actor, instance_id))


def instance_list(platform: Platform, actor: Actor = ENGINE, limit: int = 50, **filters: Any) -> dict[str, Any]:
    from engine.reads.cases import InstanceFilter

    return as_plain(platform.reads.cases.page(actor, InstanceFilter(**filters), limit=limit))


def task_list(platform: Platform, actor: Actor = ENGINE, **kwargs: Any) -> dict[str, Any]:
    """The API's task list for `actor` (engine/reads/tasks.py), as plain data."""
    return as_plain(platform.reads.tasks.api_list(actor, **kwargs))


def task_view(platform: Platform, task_id: str, actor: Actor = ENGINE) -> dict[str, Any]:
    return as_plain(platform.reads.tasks.one(actor, task_id))


def make_default(platform: Platform, process_id: str, version: int, actor: Actor | None = None) -> None:
    """The explicit, audited "make default" a process owner does after deploying (issue 15: a deploy alone never
    changes the version new cases start on)."""
    from engine.features.pilots import Pilots

    Pilots(platform.db, platform.clock, platform.policy).set_default(actor or OWNER, process_id, version)
