"""The demo of `make run` (webui/demo_story.py): a week of its history lived through the service layer gives cases
that reach their discharge and the figures' case facts; the table of demo users names users that exist."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.config import PROJECT_ROOT, Settings
from engine.persistence.models import CaseFact, HistoryEntry, ProcessInstance, User
from engine.platform import Platform, build
from tests.conftest import truncate_all
from tests.webui.staff import FAST_HASHER
from webui.demo import load_demo
from webui.demo_story import WHAT_TO_TRY, _live_history, users_table


@pytest.fixture
def bare(database_url: str, clock) -> Iterator[Platform]:  # type: ignore[no-untyped-def]
    settings = Settings(
        database_url=database_url, clock="simulated", processes_dir=PROJECT_ROOT / "processes", scheduler=False
    ).checked()
    p = build(settings, clock=clock, migrate=False)
    truncate_all(p.db)
    load_demo(p, FAST_HASHER, start_cases=False)
    yield p
    p.close()


def test_a_week_of_the_demo_history_reaches_discharges_and_figures(bare):
    start = bare.clock.now()
    admitted = _live_history(bare, start + timedelta(days=7), random.Random(15))
    assert admitted == 3  # Monday, Wednesday and Friday
    assert bare.clock.now() >= start + timedelta(days=7)
    with bare.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 3
        discharged = session.scalar(
            select(func.count()).select_from(HistoryEntry).where(HistoryEntry.kind == "message_received")
        )
        facts = session.scalar(select(func.count()).select_from(CaseFact))
        statuses = set(session.scalars(select(ProcessInstance.status)))
    assert discharged and facts == 3
    assert "incident" not in statuses


def test_the_users_table_names_demo_users_with_what_to_try(bare):
    table = users_table(bare)
    with bare.db.read() as session:
        known = set(session.scalars(select(User.username)))
    for username, role, _ in WHAT_TO_TRY:
        assert username in known and role in table
    assert "samflode-demo" in table
