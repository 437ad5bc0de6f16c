"""`samflode rebuild-facts`: every case's facts derived again from its history through the current code (what
migration 0007 no longer does, since a migration runs no engine code), batched and idempotent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from engine.persistence.models import CaseFact
from tests.bpmn.conftest import ESTHER, Walker


def rows(walk: Walker) -> dict[int, dict[str, Any]]:
    columns = [c for c in CaseFact.__table__.columns if c.name != "updated_at"]
    with walk.p.db.read() as session:
        return {r.instance_id: dict(r._mapping) for r in session.execute(select(*columns)).all()}


def test_rebuild_facts_restores_every_case_and_a_second_run_writes_nothing(
    walk: Walker, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from webui import cli

    first = walk.admit(ESTHER)
    second = walk.admit({**ESTHER, "personnummer": "19121212-1212", "vardtillfalle_id": "VT-2"})
    before = rows(walk)
    assert set(before) == {first, second}
    with walk.p.db.unit_of_work() as session:  # a database upgraded from before 0007: no facts, or stale ones
        session.execute(delete(CaseFact).where(CaseFact.instance_id == first))
        session.execute(update(CaseFact).where(CaseFact.instance_id == second).values(uk_notices=7))
    monkeypatch.setattr(cli, "_platform", lambda settings=None: walk.p)

    assert cli.main(["rebuild-facts", "--batch", "1"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "process": "in_utskrivning",
        "fall": 2,
        "skrivna": 2,
        "oforandrade": 0,
    }
    assert rows(walk) == before
    assert cli.main(["rebuild-facts"]) == 0
    assert json.loads(capsys.readouterr().out)["skrivna"] == 0
    assert cli.main(["rebuild-facts", "--batch", "0"]) == 2
