"""The database's connections (engine/persistence/db.py): a pooled connection is pinged before use only after it rested
in the pool, and one that fails its ping is replaced; reads on PostgreSQL run without BEGIN/ROLLBACK."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import QueuePool

from engine.persistence import db as dbmodule
from engine.persistence.db import Database


def _engine_with_pings(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, fail: list[bool]) -> tuple[Any, list[int]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'pings.db'}", poolclass=QueuePool, pool_size=1, max_overflow=0)
    pings: list[int] = []
    original = engine.dialect.do_ping

    def ping(dbapi_connection: Any) -> bool:
        pings.append(id(dbapi_connection))
        if fail and fail.pop(0):
            raise RuntimeError("the server went away")
        return original(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", ping)
    dbmodule._ping_when_idle(engine)
    return engine, pings


def test_a_connection_back_from_a_moment_ago_is_not_pinged_one_that_rested_is(monkeypatch, tmp_path):
    engine, pings = _engine_with_pings(monkeypatch, tmp_path, [])
    with engine.connect() as conn:  # a new connection is pinged once
        conn.execute(text("SELECT 1"))
    assert len(pings) == 1
    for _ in range(3):  # handed back a moment ago: used as it is
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    assert len(pings) == 1
    monkeypatch.setattr(dbmodule, "PING_AFTER_IDLE", -1.0)  # as if every connection had rested long
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert len(pings) == 2


def test_a_connection_that_fails_its_ping_is_replaced(monkeypatch, tmp_path):
    engine, pings = _engine_with_pings(monkeypatch, tmp_path, [False, True])
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    monkeypatch.setattr(dbmodule, "PING_AFTER_IDLE", -1.0)
    with engine.connect() as conn:  # the ping fails: the pool connects anew and the request goes on
        assert conn.execute(text("SELECT 1")).scalar() == 1
    assert len(pings) == 3 and pings[1] != pings[2]


def test_reads_on_postgresql_are_not_in_a_transaction_of_their_own(database_url):
    db = Database(database_url)
    if db.dialect != "postgresql":
        db.dispose()
        pytest.skip("SQLite keeps its read transaction: a snapshot there")
    try:
        for _ in range(2):  # and the pool's connection is a unit of work's again afterwards
            with db.read() as session:
                statements = [session.execute(text("SELECT now() = statement_timestamp(), pg_sleep(0.01)")).one()]
                statements.append(session.execute(text("SELECT now() = statement_timestamp()")).one())
                # each statement its own: the transaction's start is the statement's start, every time
                assert all(row[0] for row in statements)
                assert session.connection().connection.dbapi_connection.autocommit is True
            with db.unit_of_work() as session:
                session.execute(text("SELECT pg_sleep(0.01)"))
                assert not session.execute(text("SELECT now() = statement_timestamp()")).scalar()
                assert session.connection().connection.dbapi_connection.autocommit is False
    finally:
        db.dispose()
