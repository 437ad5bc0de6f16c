"""States stored by the code before our SpiffWorkflow customisations became registered subclasses (issue 16, point 4)
restore with today's code, read the same and run the same when their earliest timer fires (tests/bpmn/stored_states.py
says how the record was made)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.bpmn.stored_states import FOLDER, _as_json, definition_specs, fire_earliest, flow_factory, reading

RECORD = json.loads((FOLDER / "states.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("checkpoint", RECORD["checkpoints"], ids=lambda c: c["label"])
def test_a_stored_state_restores_reads_and_runs_as_it_did(checkpoint):
    spec, subs = definition_specs(RECORD["definitions"], checkpoint["definition"])
    factory = flow_factory()
    flow = factory.restore(checkpoint["state"], spec, subs)
    assert json.loads(flow.dump()) == json.loads(checkpoint["state"]), "a restore and save changes nothing"
    assert _as_json(reading(flow)) == checkpoint["reading"]
    fired = fire_earliest(factory.restore(checkpoint["state"], spec, subs), datetime.fromisoformat(checkpoint["now"]))
    assert _as_json(fired) == checkpoint["fire_earliest"]
