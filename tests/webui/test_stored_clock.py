"""The stored simulated clock (SAMFLODE_CLOCK=simulated without an injected clock, as `make run` demos use it): the
app refreshes it before every request and still answers the request itself."""

from __future__ import annotations

from pathlib import Path

from engine.config import PROJECT_ROOT, Settings
from engine.persistence.clock_store import StoredSimulatedClock
from engine.platform import build
from webui import create_app


def test_pages_and_api_answer_with_the_stored_simulated_clock(tmp_path: Path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'clock.db'}",
        clock="simulated",
        processes_dir=PROJECT_ROOT / "tests" / "fixtures" / "catalog",
        scheduler=False,
    ).checked()
    platform = build(settings)
    try:
        assert isinstance(platform.clock, StoredSimulatedClock)
        client = create_app({"TESTING": True}, platform=platform).test_client()
        health = client.get("/healthz")
        assert health.status_code == 200 and health.get_json()["status"] == "ok"
        assert client.get("/logga-in").status_code == 200
        assert client.get("/api/v1/clock").status_code == 401  # the API's own answer, not a 500
    finally:
        platform.close()
