"""The simulated clock that every process of an installation shares (the clock_state row), and the CLI that moves
it. Each Platform here is what one process builds from the same settings."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from engine.config import ConfigError, Settings
from engine.domain.clock import STOCKHOLM, parse_step
from engine.persistence.clock_store import StoredSimulatedClock
from engine.persistence.models import HistoryEntry
from engine.platform import build
from tests import diagrams
from tests.conftest import FIXTURES, OWNER, SYSTEM, instance_view, truncate_all
from webui.cli import main


@pytest.fixture
def shared(settings):
    """Two platforms on one database with the configured (shared) simulated clock, as two processes have."""
    first = build(settings, migrate=False)
    truncate_all(first.db)
    second = build(settings, migrate=False)
    yield first, second
    first.close()
    second.close()


def test_processes_share_one_simulated_time(shared):
    first, second = shared
    assert isinstance(first.clock, StoredSimulatedClock)
    start = datetime.fromisoformat(first.settings.simulated_start)
    assert first.clock.now() == start == second.clock.now()
    first.timers.advance(timedelta(days=3))
    assert second.clock.now() == start  # read once per command: unchanged until the next one starts
    assert second.clock.refresh() == start + timedelta(days=3)


def test_advancing_in_one_process_fires_timers_another_started(shared):
    first, second = shared
    second.runtime.deploy(diagrams.timer_process("vanta", "PT12H"), OWNER)
    iid = second.runtime.start_instance("vanta", "bk", {}, SYSTEM)
    result = first.timers.advance(timedelta(days=1))
    assert result.fired == 1
    second.clock.refresh()
    assert [t["element_id"] for t in instance_view(second, iid)["active_tasks"]] == ["sedan"]


def test_the_shared_clock_never_runs_backwards(shared):
    first, second = shared
    first.clock.advance(timedelta(hours=5))
    second.clock.set(datetime.fromisoformat(second.settings.simulated_start) + timedelta(hours=1))
    assert second.clock.now() == first.clock.now()  # the later time wins
    with pytest.raises(ValueError):
        first.clock.advance(timedelta(seconds=-1))


def test_simulated_clock_is_refused_in_production(settings):
    with pytest.raises(ConfigError):
        replace(settings, env="production", secret_key="x" * 32).checked()
    with pytest.raises(ConfigError):
        Settings.from_env({"SAMFLODE_ENV": "production", "SAMFLODE_CLOCK": "simulated", "SAMFLODE_SECRET_KEY": "k"})


@pytest.mark.parametrize(
    ("text", "seconds"), [("3d", 3 * 86400), ("12h", 43200), ("90m", 5400), ("45s", 45), ("3600", 3600)]
)
def test_clock_steps_as_operators_type_them(text, seconds):
    assert parse_step(text) == timedelta(seconds=seconds)


def test_cli_clock_advance_fires_what_falls_due(shared, monkeypatch, capsys):
    first, _ = shared
    first.runtime.deploy(diagrams.timer_process("vanta", "P2D"), OWNER)
    iid = first.runtime.start_instance("vanta", "bk", {}, SYSTEM)
    monkeypatch.setenv("DATABASE_URL", first.settings.database_url)
    monkeypatch.setenv("SAMFLODE_CLOCK", "simulated")
    monkeypatch.setenv("SAMFLODE_PROCESSES_DIR", str(FIXTURES / "catalog"))
    assert main(["clock", "show"]) == 0
    assert "2026-01-12T08:00:00+01:00 (simulerad klocka)" in capsys.readouterr().out
    assert main(["clock", "advance", "3d"]) == 0
    assert "2026-01-15T08:00:00+01:00 (simulerad klocka); 1 timers utlösta" in capsys.readouterr().out
    with first.db.read() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(HistoryEntry)
                .where(HistoryEntry.instance_id == iid, HistoryEntry.kind == "timer_fired")
            )
            == 1
        )
    assert main(["clock", "advance", "tre dagar"]) == 2


def test_cli_refuses_to_advance_a_real_clock(shared, monkeypatch, capsys):
    first, _ = shared
    monkeypatch.setenv("DATABASE_URL", first.settings.database_url)
    monkeypatch.setenv("SAMFLODE_CLOCK", "real")
    monkeypatch.setenv("SAMFLODE_PROCESSES_DIR", str(FIXTURES / "catalog"))
    assert main(["clock", "advance", "1h"]) == 1
    assert "verklig" in capsys.readouterr().err


def test_stored_clock_starts_where_configured(settings):
    p = build(replace(settings, simulated_start="2026-10-24T12:00:00+02:00"), migrate=False)
    try:
        truncate_all(p.db)
        assert p.clock.now() == datetime(2026, 10, 24, 12, 0, tzinfo=STOCKHOLM)
    finally:
        p.close()
