"""Workflow states as the code of main stored them before SpiffWorkflow's timers became our own subclasses (issue 16,
point 4), and what that code read from them: the test (test_stored_states.py) restores them with today's code and
must read and run them the same way. Stored states in existing databases must keep working.

Generated once, by the code of the commit before that change (3ff0987), with

    .venv/bin/python -m tests.bpmn.stored_states

which walks the real diagrams through the service layer on a throw-away SQLite database (a few checkpoints of an
in_utskrivning case with its SIP, and a mobilt_team case whose round cycle has fired) and writes
tests/fixtures/stored_states/: each definition's stored XML, the agreements its deadlines came from, and per
checkpoint the stored state with what `Flow` read from it and did when its earliest timer fired. Do not regenerate
it after the change: it is the old code's record.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.bpmn.parsing import parse_for_run
from engine.bpmn.timers import engine_now
from engine.bpmn.workflow import Flow, FlowFactory, StepLog
from engine.domain.catalog import Catalog
from engine.domain.clock import SimulatedClock

FOLDER = Path(__file__).resolve().parent.parent / "fixtures" / "stored_states"


def definition_specs(definitions: dict[str, Any], key: str) -> tuple[Any, dict[str, Any]]:
    """The specs of a stored definition (`definitions`: key -> {process_id, xml file, dependencies: {called: key}})."""
    entry = definitions[key]
    deps: dict[str, bytes] = {}
    wanted = list(entry["dependencies"].items())
    while wanted:
        called, dep_key = wanted.pop()
        if dep_key is None or called in deps:
            continue
        deps[called] = (FOLDER / definitions[dep_key]["xml"]).read_bytes()
        wanted.extend(definitions[dep_key]["dependencies"].items())
    return parse_for_run((FOLDER / entry["xml"]).read_bytes(), entry["process_id"], deps)


def flow_factory() -> FlowFactory:
    return FlowFactory(Catalog(FOLDER).sandbox_functions(engine_now))


def reading(flow: Flow) -> dict[str, Any]:
    """What the service layer reads from a flow, as plain JSON."""
    return {
        "completed": flow.completed,
        "ready": sorted((t.element_id, t.process_id, t.lane or "") for t in flow.ready_human_tasks()),
        "timers": sorted(
            (t.element_id, t.kind, t.due_at.isoformat(), t.boundary, t.task_id) for t in flow.waiting_timers()
        ),
        "messages": flow.awaited_messages(),
    }


def fire_earliest(flow: Flow, now: datetime) -> dict[str, Any]:
    """Fire the earliest waiting timer at its due moment, as the scheduler does; what ran and what is read after."""
    timers = sorted(flow.waiting_timers(), key=lambda t: t.due_at)
    if not timers:
        return {}
    due = max(timers[0].due_at, now)
    clock = SimulatedClock(due)
    log = StepLog()
    flow.run(clock, log, fire_due=due)
    return {
        "fired": timers[0].element_id,
        "at": due.isoformat(),
        "completed": [element for _, element, _ in log.completed],
        "after": reading(flow),
    }


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def generate() -> None:  # pragma: no cover - run by hand, once
    from sqlalchemy import select

    from engine.config import Settings
    from engine.persistence.models import ProcessDefinition, ProcessInstance
    from engine.platform import build
    from tests.bpmn.conftest import DEPLOY_ORDER, ESTHER, PROCESSES, Walker
    from tests.bpmn.test_in_utskrivning import PLANNING, until_uk_decision
    from tests.bpmn.test_sip_and_mobilt_team import ENROL, MOBILT_TEAM_CASE
    from tests.conftest import OWNER, SYSTEM
    from tests.conftest import clock as make_clock

    if FOLDER.exists():
        shutil.rmtree(FOLDER)
    FOLDER.mkdir(parents=True)
    shutil.copy(PROCESSES / "agreements.json", FOLDER / "agreements.json")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/stored.db", clock="simulated", processes_dir=PROCESSES, scheduler=False
        ).checked()
        clock = make_clock.__wrapped__()
        platform = build(settings, clock=clock, migrate=True)
        for name in DEPLOY_ORDER:
            platform.runtime.deploy((PROCESSES / f"{name}.bpmn").read_bytes(), OWNER, filename=f"{name}.bpmn")
        walk = Walker(platform)
        checkpoints: list[dict[str, Any]] = []
        definitions: dict[str, Any] = {}

        def record(label: str, instance_id: int) -> None:
            with platform.db.read() as session:
                for row in session.scalars(select(ProcessDefinition)):
                    key = f"{row.process_id}-{row.version}"
                    if key not in definitions:
                        (FOLDER / f"{key}.bpmn").write_bytes(row.xml)
                        definitions[key] = {"id": row.id, "process_id": row.process_id, "xml": f"{key}.bpmn"}
                by_id = {v["id"]: k for k, v in definitions.items()}
                with platform.db.read() as s2:
                    for entry in definitions.values():
                        row = s2.get(ProcessDefinition, entry["id"])
                        entry["dependencies"] = {c: by_id.get(d) for c, d in (row.dependencies or {}).items()}
                instance = session.get(ProcessInstance, instance_id)
                state, definition_key = instance.state, by_id[instance.definition_id]
            factory = flow_factory()
            spec, subs = definition_specs(definitions, definition_key)
            flow = factory.restore(state, spec, subs)
            read = reading(flow)
            assert json.loads(flow.dump()) == json.loads(state)  # what the test checks again
            fired = fire_earliest(factory.restore(state, spec, subs), clock.now())
            checkpoints.append(
                {
                    "label": label,
                    "definition": definition_key,
                    "now": clock.now().isoformat(),
                    "state": state,
                    "reading": _as_json(read),
                    "fire_earliest": _as_json(fired),
                }
            )

        instance = until_uk_decision(walk)
        record("in_utskrivning waiting for the UK decision", instance)
        walk.send("utskrivningsklar", ESTHER, utskrivningsklar=True, utskrivningsklar_tidpunkt=clock.now().isoformat())
        walk.complete(instance, "skicka_meddelande_utskrivningsklar", mottagare=["Kommun", "Vårdcentral"])
        record("in_utskrivning with the SIP called", instance)
        walk.run_except(instance, {"genomfora_utskrivning"}, PLANNING)
        walk.send("utskriven", ESTHER, utskrivningstid=clock.now().isoformat())
        walk.run_until(instance, {"folja_upp_sip"}, PLANNING)
        record("in_utskrivning waiting for the SIP's follow-up date", instance)
        team = walk.start("mobilt_team", MOBILT_TEAM_CASE)
        walk.run_until(team, {"folja_personen_i_teamet"}, {**ENROL, "uppratta_vardplan": {"rond_intervall_dagar": 7}})
        record("mobilt_team waiting for its first round", team)
        walk.fire(team, "tid_rond")
        record("mobilt_team after a round, the cycle waiting again", team)
        platform.close()
    for entry in definitions.values():
        entry.pop("id", None)
    del SYSTEM
    (FOLDER / "states.json").write_text(
        json.dumps({"definitions": definitions, "checkpoints": checkpoints}, ensure_ascii=False, indent=1) + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":  # pragma: no cover
    generate()
