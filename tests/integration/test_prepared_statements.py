"""engine/persistence/statements.py: a statement compiled once per dialect and run as driver SQL writes exactly what
the same statement run through the session writes (the columns' types: aware datetimes, JSON), one row or many."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import bindparam, delete, event, insert, select, text

from engine.persistence.models import HistoryEntry
from engine.persistence.statements import Prepared, PreparedInsert
from engine.platform import Platform
from tests import diagrams
from tests.conftest import OWNER, SYSTEM

COLUMNS = ("instance_id", "at", "kind", "element_id", "task_id", "actor", "data", "task_created_at")


def test_prepared_rows_are_stored_as_the_sessions_are(platform: Platform) -> None:
    platform.runtime.deploy(diagrams.script_process("skript", "x = 1"), OWNER)
    iid = platform.runtime.start_instance("skript", "bk", {}, SYSTEM)
    at = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2)))  # not UTC, and a whole second
    row = {
        "instance_id": iid,
        "at": at,
        "kind": "prov",
        "element_id": None,
        "task_id": "t",
        "actor": "ö",
        "data": {"namn": "Åsa", "lista": [1, 2.5, None], "sant": True},
        "task_created_at": None,
    }
    prepared = Prepared(insert(HistoryEntry.__table__), COLUMNS)
    with platform.db.unit_of_work() as session:
        session.execute(insert(HistoryEntry.__table__), [row | {"kind": "session"}])
        prepared.execute(session.connection(), row | {"kind": "prepared"})
        prepared.execute(session.connection(), [row | {"kind": "many1"}, row | {"kind": "many2"}])
    stored = "SELECT kind, at, data, task_created_at FROM history WHERE task_id = 't' ORDER BY id"
    with platform.db.read() as session:
        raw = session.execute(text(stored)).all()
        typed = session.execute(select(HistoryEntry.at, HistoryEntry.data).where(HistoryEntry.task_id == "t")).all()
    assert [r[0] for r in raw] == ["session", "prepared", "many1", "many2"]
    assert len({repr(tuple(r[1:])) for r in raw}) == 1  # the same stored values, to the character on SQLite
    assert all(r.at == at.astimezone(UTC) and r.data == row["data"] for r in typed) and len(typed) == 4


def test_a_statement_with_a_list_given_at_run_time_is_not_prepared(platform: Platform) -> None:
    table = HistoryEntry.__table__
    prepared = Prepared(delete(table).where(table.c.id.in_(bindparam("ids", expanding=True))))
    with platform.db.read() as session, pytest.raises(ValueError):
        prepared.execute(session.connection(), {"ids": [1]})


def test_many_rows_are_one_statement_and_keep_their_order(platform: Platform) -> None:
    """PreparedInsert: an executemany on SQLite, one INSERT with a VALUES row per row on PostgreSQL (compiled once
    per number of rows); the rows get their ids in the order given."""
    platform.runtime.deploy(diagrams.script_process("skript", "x = 1"), OWNER)
    iid = platform.runtime.start_instance("skript", "bk", {}, SYSTEM)
    table = HistoryEntry.__table__
    prepared = PreparedInsert(
        table, lambda suffix: {c: bindparam(f"{c}{suffix}", type_=table.c[c].type) for c in COLUMNS}
    )
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    rows = [
        {c: None for c in COLUMNS} | {"instance_id": iid, "at": at, "kind": f"k{i}", "data": {"i": i}} for i in range(7)
    ]
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(platform.db.engine, "before_cursor_execute", record)
    try:
        with platform.db.unit_of_work() as session:
            prepared.execute(session.connection(), rows[:3])
            prepared.execute(session.connection(), rows[3:])
    finally:
        event.remove(platform.db.engine, "before_cursor_execute", record)
    with platform.db.read() as session:
        stored = session.execute(
            select(HistoryEntry.kind, HistoryEntry.at, HistoryEntry.data)
            .where(HistoryEntry.kind.like("k%"))
            .order_by(HistoryEntry.id)
        ).all()
    assert [(r.kind, r.at, r.data) for r in stored] == [(f"k{i}", at, {"i": i}) for i in range(7)]
    assert len([s for s in seen if s.startswith("INSERT")]) == 2
