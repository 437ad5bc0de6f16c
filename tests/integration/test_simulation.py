"""Simulation before a pilot (issue 8): a small simulated stream end to end on the real diagrams, determinism with a
fixed seed, the real database untouched, staff capacity making tasks queue, permissions and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import func, select

from engine.config import PROJECT_ROOT, Settings
from engine.domain.actors import Actor
from engine.domain.errors import Forbidden, NotFound, ValidationFailed
from engine.features.simulation import SimulationParams, arrivals, run_simulation
from engine.features.simulations import Simulations
from engine.persistence.db import Database
from engine.persistence.models import CaseFact, HistoryEntry, ProcessInstance, SimulationRun
from engine.platform import Platform, build
from tests.conftest import OWNER, VC, truncate_all

PROCESSES = PROJECT_ROOT / "processes"
TEAM = Actor("ines", frozenset({"implementation_team"}), name="Ines")
SMALL = {"cases_per_year": 365.0, "days": 12, "start_date": date(2027, 3, 1), "default_hours": 6.0}


@pytest.fixture
def deployed(database_url: str, clock) -> Iterator[Platform]:  # type: ignore[no-untyped-def]
    settings = Settings(database_url=database_url, clock="simulated", processes_dir=PROCESSES, scheduler=False)
    p = build(settings.checked(), clock=clock, migrate=False)
    truncate_all(p.db)
    for name in ("sip", "in_utskrivning"):
        p.runtime.deploy((PROCESSES / f"{name}.bpmn").read_bytes(), OWNER, filename=f"{name}.bpmn")
    # version 2: the same routine with the inskrivningsmeddelande's task renamed (another content, a new version)
    xml = (PROCESSES / "in_utskrivning.bpmn").read_text(encoding="utf-8")
    p.runtime.deploy(
        xml.replace('name="Skicka inskrivningsmeddelande"', 'name="Skicka inskrivningsmeddelande (ny)"', 1), OWNER
    )
    yield p
    p.close()


def counts(db: Database) -> tuple[int, int, int]:
    with db.read() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model))
            for model in (ProcessInstance, HistoryEntry, CaseFact)
        )


def test_a_small_simulation_runs_both_versions_and_predicts_their_figures(deployed, tmp_path):
    params = SimulationParams(candidate_version=2, baseline_version=1, seed=7, **SMALL)
    before = counts(deployed.db)
    result = run_simulation(deployed.db, deployed.catalog, params, tmp_path / "run")
    assert counts(deployed.db) == before  # the real database is untouched
    assert [v["version"] for v in result["versions"]] == [1, 2]
    assert [v["role"] for v in result["versions"]] == ["baseline", "candidate"]
    for version in result["versions"]:
        assert version["cases"] == result["arrivals"] > 0
        assert version["incidents"] == 0 and version["stuck"] == 0
        assert version["figures"]["utskrivningsklara_dagar"]["denominator"] > 0
        assert version["workload"]["vardplanerare"]["tasks"] > 0
        # the simulated cases are in the version's own database, with history and case facts
        sim = Database(f"sqlite:///{version['database']}")
        instances, history, facts = counts(sim)
        sim.dispose()
        assert instances == version["cases"] and facts == instances and history > 10 * instances


def test_the_same_seed_gives_the_same_figures_and_another_seed_another_stream(deployed, tmp_path):
    params = SimulationParams(candidate_version=1, seed=11, **SMALL)
    first = run_simulation(deployed.db, deployed.catalog, params, tmp_path / "a")
    second = run_simulation(deployed.db, deployed.catalog, params, tmp_path / "b")
    keep = ("cases", "completed", "steps", "figures", "workload")
    assert [{k: v[k] for k in keep} for v in first["versions"]] == [{k: v[k] for k in keep} for v in second["versions"]]
    other = SimulationParams(candidate_version=1, seed=12, **SMALL)
    assert [a.at for a in arrivals(params, {})] != [a.at for a in arrivals(other, {})]


def test_groups_of_kommuner_side_by_side_give_the_same_result_as_one_after_the_other(deployed, tmp_path):
    params = SimulationParams(candidate_version=1, seed=5, **SMALL)
    alone = run_simulation(deployed.db, deployed.catalog, params, tmp_path / "one", workers=1)
    parallel = run_simulation(deployed.db, deployed.catalog, params, tmp_path / "two", workers=2)
    keep = ("cases", "completed", "steps", "figures", "workload")
    assert {k: alone["versions"][0][k] for k in keep} == {k: parallel["versions"][0][k] for k in keep}


def test_scarce_staff_makes_tasks_wait(deployed, tmp_path):
    ample = SimulationParams(candidate_version=1, seed=3, **SMALL)
    scarce = SimulationParams(
        candidate_version=1, seed=3, capacity={"vardplanerare": 1}, **{**SMALL, "cases_per_year": 3650.0}
    )
    relaxed = run_simulation(deployed.db, deployed.catalog, ample, tmp_path / "ample")["versions"][0]["workload"]
    tight = run_simulation(deployed.db, deployed.catalog, scarce, tmp_path / "scarce")["versions"][0]["workload"]
    assert relaxed["vardplanerare"]["mean_wait_hours"] == 0
    assert tight["vardplanerare"]["mean_wait_hours"] > 0 and tight["vardplanerare"]["max_queue"] > 1


def test_runs_are_recorded_with_progress_and_only_the_team_may_simulate(deployed, tmp_path):
    service = Simulations(deployed.db, deployed.clock, deployed.catalog, deployed.policy, tmp_path)
    params = SimulationParams(candidate_version=2, baseline_version=1, seed=2, **SMALL)
    with pytest.raises(Forbidden):
        service.create(params, VC)
    with pytest.raises(ValidationFailed) as info:
        service.create(SimulationParams(candidate_version=2, cases_per_year=0, sip_share=2), TEAM)
    assert set(info.value.details["fields"]) == {"cases_per_year", "sip_share"}
    with pytest.raises(NotFound):
        service.create(SimulationParams(candidate_version=9), TEAM)
    run_id = service.create(params, TEAM)
    assert service.get(run_id, TEAM)["status"] == "queued"
    seen: list[tuple[int, int]] = []
    service.execute(run_id, on_progress=lambda done, total: seen.append((done, total)))
    run = service.get(run_id, TEAM)
    assert run["status"] == "done" and run["percent"] == 100
    assert seen and seen[-1][0] == seen[-1][1] == 2 * run["result"]["arrivals"]
    assert [r["id"] for r in service.runs(TEAM)] == [run_id]
    with deployed.db.read() as session:
        assert (tmp_path / f"run-{run_id}" / "version-2.db").exists()
        assert session.get(SimulationRun, run_id).finished_at is not None


def test_the_scanning_workflows_simulate_exactly_what_spiffworkflows_own_classes_do(deployed, tmp_path, monkeypatch):
    from engine.features import simulation

    params = SimulationParams(candidate_version=1, seed=13, **SMALL)
    scanning = run_simulation(deployed.db, deployed.catalog, params, tmp_path / "scan")["versions"][0]
    monkeypatch.setattr(simulation, "simulated_flow", lambda factory, spec, subs, data: factory.new(spec, subs, data))
    native = run_simulation(deployed.db, deployed.catalog, params, tmp_path / "tree")["versions"][0]
    keep = ("cases", "completed", "stuck", "incidents", "steps", "figures", "workload")
    assert {k: scanning[k] for k in keep} == {k: native[k] for k in keep}


def test_the_command_line_simulates_and_prints_the_figures_side_by_side(deployed, tmp_path, monkeypatch, capsys):
    from webui.cli import main

    monkeypatch.setenv("DATABASE_URL", deployed.settings.database_url)
    monkeypatch.setenv("SAMFLODE_CLOCK", "simulated")
    monkeypatch.setenv("SAMFLODE_PROCESSES_DIR", str(PROCESSES))
    argv = ["simulate", "--candidate", "2", "--baseline", "1", "--cases-per-year", "365", "--days", "5"]
    assert main([*argv, "--workers", "1", "--out", str(tmp_path), "--capacity", "vardplanerare=2"]) == 0
    out = capsys.readouterr().out
    assert "v1" in out and "v2 (kandidat)" in out and "utskrivningsklara_dagar" in out and "arbete vardplanerare" in out
    with deployed.db.read() as session:
        assert session.scalar(select(func.count()).select_from(SimulationRun)) == 1
    assert main([*argv[:2], "9", "--out", str(tmp_path)]) == 1
    assert "finns inte" in capsys.readouterr().err
