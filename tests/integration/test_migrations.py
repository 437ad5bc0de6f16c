"""Migrations: the chain builds exactly the schema the models describe, and upgrades keep and fill existing data."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, make_url, text

from engine.commands.facts_store import CaseFactsKeeper, rebuild_all
from engine.config import PROJECT_ROOT
from engine.domain.catalog import Catalog
from engine.persistence.db import Database
from engine.persistence.models import Base
from tests.conftest import require_postgres


def test_migrations_build_the_schema_the_models_describe(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade()
    with db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    assert differences == []


def test_instance_units_are_filled_from_existing_case_data_on_upgrade(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'u.db'}")
    command.upgrade(db.alembic_config(), "0004")
    now = "2026-01-12 08:00:00.000000"
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO process_definitions (id, process_id, version, xml, content_hash, executable, diagnostics,"
                " elements, lanes, start_messages, dependencies, forms, deployed_by, deployed_at, comment)"
                " VALUES (1, 'p', 1, x'00', 'h', 1, '[]', '{}', '[]', '[]', '{}', '{}', 'agnes', :now, '')"
            ),
            {"now": now},
        )
        for id_, data in (
            (1, {"kommun": "Eksjö", "vardcentral_hsa_id": "SE-vc1", "avdelning_hsa_id": "SE-ward1", "x": 1}),
            (2, {"x": 2}),
        ):
            conn.execute(
                text(
                    "INSERT INTO process_instances (id, definition_id, process_id, version, business_key, status,"
                    " started_at, updated_at, started_by, data, state, serializer_version, lock_version)"
                    " VALUES (:id, 1, 'p', 1, :key, 'waiting', :now, :now, 'vera', :data, '{}', 'v', 1)"
                ),
                {"id": id_, "key": f"case-{id_}", "now": now, "data": json.dumps(data)},
            )
    db.upgrade()
    with db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, kommun, vardcentral, avdelning, data FROM process_instances ORDER BY id")
        ).all()
    db.dispose()
    assert [tuple(r[:4]) for r in rows] == [(1, "Eksjö", "SE-vc1", "SE-ward1"), (2, None, None, None)]
    assert json.loads(rows[0][4])["x"] == 1  # the data itself is untouched


def test_case_facts_are_rebuilt_from_the_existing_history_after_upgrade(tmp_path: Path) -> None:
    """Migration 0007 makes the table (schema only: a migration runs no engine code), and `samflode rebuild-facts`
    after the upgrade derives the facts of the cases that exist from their history (nothing is lost), with their
    deviations counted; a second run writes nothing."""
    db = Database(f"sqlite:///{tmp_path / 'f.db'}")
    command.upgrade(db.alembic_config(), "0005")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO process_definitions (id, process_id, version, xml, content_hash, executable, diagnostics,"
                " elements, lanes, start_messages, dependencies, forms, deployed_by, deployed_at, comment)"
                " VALUES (1, 'in_utskrivning', 1, x'00', 'h', 1, '[]', '{}', '[]', '[]', '{}', '{}', 'agnes',"
                " '2026-01-01 08:00:00.000000', '')"
            )
        )
        data = {"personnummer": "19380312-2385", "kommun": "Eksjö", "avtal": "nationell"}
        conn.execute(
            text(
                "INSERT INTO process_instances (id, definition_id, process_id, version, business_key, status,"
                " started_at, updated_at, started_by, data, state, serializer_version, lock_version, kommun)"
                " VALUES (1, 1, 'in_utskrivning', 1, 'k', 'completed', '2026-01-12 07:00:00.000000',"
                " '2026-01-20 10:00:00.000000', 'journal', :data, '{}', 'v', 1, 'Eksjö')"
            ),
            {"data": json.dumps(data)},
        )
        history = [
            (
                "2026-01-12 07:00:00.000000",
                "started",
                None,
                {"data": {**data, "inskrivningstid": "2026-01-12T08:00:00+01:00"}},
            ),
            ("2026-01-12 08:00:00.000000", "task_completed", "skicka_inskrivningsmeddelande", {"submitted": {}}),
            ("2026-01-14 09:00:00.000000", "task_completed", "skicka_meddelande_utskrivningsklar", {"submitted": {}}),
            ("2026-01-19 10:00:00.000000", "message_received", None, {"name": "utskriven", "data": {}}),
        ]
        conn.execute(
            text(
                "INSERT INTO process_instances (id, definition_id, process_id, version, business_key, status,"
                " started_at, updated_at, started_by, data, state, serializer_version, lock_version, kommun)"
                " VALUES (2, 1, 'in_utskrivning', 1, 'k2', 'running', '2026-02-02 07:00:00.000000',"
                " '2026-02-02 07:00:00.000000', 'journal', '{}', '{}', 'v', 1, 'Nässjö')"
            )
        )
        history.insert(1, ("2026-02-02 07:00:00.000000", "started", None, {"data": {}}))  # case 2, between case 1's
        for index, (at, kind, element, body) in enumerate(history):
            conn.execute(
                text(
                    "INSERT INTO history (instance_id, at, kind, element_id, actor, data)"
                    " VALUES (:instance, :at, :kind, :element, 'journal', :data)"
                ),
                {
                    "instance": 2 if index == 1 else 1,
                    "at": at,
                    "kind": kind,
                    "element": element,
                    "data": json.dumps(body),
                },
            )
        conn.execute(
            text(
                "INSERT INTO deviations (instance_id, element_id, party, cause, at)"
                " VALUES (1, 'tid_hem_efter_uk', 'Slutenvård', 'Ej hemma inom 24 timmar', '2026-01-15 10:00:00.000000')"
            )
        )
    command.upgrade(db.alembic_config(), "0008")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM case_facts")).scalar() == 0  # 0007 moves no data
    db.upgrade()
    keeper = CaseFactsKeeper(Catalog(PROJECT_ROOT / "processes"))
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    first = rebuild_all(db, keeper, now, batch=1)
    again = rebuild_all(db, keeper, now, batch=1)
    assert (first.cases, first.written, first.unchanged) == (2, 2, 0)
    assert (again.cases, again.written, again.unchanged) == (2, 0, 2)
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT kommun, ref_month, uk_days, payable_days, inskrivningsmeddelande_on_time, status, deviations"
                " FROM case_facts ORDER BY instance_id"
            )
        ).all()
    db.dispose()
    # UK notice 14 January, discharged 19 January: 5 days; nationell: 5 - 3 = 2 days to pay
    assert [tuple(r) for r in rows] == [
        ("Eksjö", "2026-01", 5, 2, 1, "completed", 1),
        ("Nässjö", "2026-02", None, None, None, "running", 0),
    ]


LANDED = "0004"  # the newest revision of the last release: every later migration must keep what it holds
ROWS_AT_LANDED = {
    "history": "INSERT INTO history (id, instance_id, at, kind, element_id, task_id, actor, data) VALUES"
    " (1, 1, :now, 'started', NULL, NULL, 'journal', '{}'),"
    " (2, 1, :now, 'task_completed', 'registrera', 't1', 'vera', '{\"submitted\": {\"behov\": []}}')",
    "task_index": "INSERT INTO task_index (id, instance_id, process_id, business_key, element_id, name, lane, role,"
    " form, unit, created_at, due_at, claimed_by, claimed_at) VALUES ('t2', 1, 'p', 'case-1', 'planera', 'Planera',"
    " 'Slutenvård', NULL, NULL, 'SE-ward1', :now, NULL, 'vera', :now)",
    "timers": "INSERT INTO timers (id, instance_id, task_id, element_id, kind, boundary, due_at, created_at) VALUES"
    " (1, 1, 't3', 'vanta', 'duration', 0, :now, :now)",
    "instance_correlations": "INSERT INTO instance_correlations (id, instance_id, name, value) VALUES"
    " (1, 1, 'personnummer', '19121212-1212')",
    "message_subscriptions": "INSERT INTO message_subscriptions (id, instance_id, message_name) VALUES"
    " (1, 1, 'utskrivningsklar')",
    "incidents": "INSERT INTO incidents (id, instance_id, element_id, message, created_at) VALUES"
    " (1, 1, 'gw', 'Inget villkor', :now)",
    "deviations": "INSERT INTO deviations (id, instance_id, element_id, party, cause, at) VALUES"
    " (1, 1, 'sip', 'Kommun', 'SIP inte kallad i tid', :now)",
    "received_messages": "INSERT INTO received_messages (message_id, name, instance_id, outcome, received_at) VALUES"
    " ('m1', 'inskrivning', 1, 'started', :now)",
}


def _fill_landed_schema(db: Database) -> None:
    now = "2026-01-12 08:00:00.000000"
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO process_definitions (id, process_id, version, xml, content_hash, executable, diagnostics,"
                " elements, lanes, start_messages, dependencies, forms, deployed_by, deployed_at, comment)"
                " VALUES (1, 'p', 1, :xml, 'h', true, '[]', '{}', '[]', '[]', '{}', '{}', 'agnes', :now, '')"
            ),
            {"now": now, "xml": b"<x/>"},
        )
        conn.execute(
            text(
                "INSERT INTO process_instances (id, definition_id, process_id, version, business_key, status,"
                " started_at, updated_at, started_by, data, state, serializer_version, lock_version)"
                " VALUES (1, 1, 'p', 1, 'case-1', 'waiting', :now, :now, 'vera', :data, '{}', 'v', 3)"
            ),
            {"now": now, "data": json.dumps({"kommun": "Eksjö"})},
        )
        for statement in ROWS_AT_LANDED.values():
            conn.execute(text(statement.replace(" 0, :now", " false, :now")), {"now": now})


def _counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("process_definitions", "process_instances", *ROWS_AT_LANDED)
        }


def _upgrade_keeps_every_row(db: Database) -> None:
    command.upgrade(db.alembic_config(), LANDED)
    _fill_landed_schema(db)
    before = _counts(db)
    db.upgrade()
    assert _counts(db) == before
    with db.engine.connect() as conn:
        state = conn.execute(text("SELECT state, lock_version, kommun FROM process_instances")).one()
    assert tuple(state) == ("{}", 3, "Eksjö")


def test_upgrading_from_the_last_release_keeps_every_row_on_sqlite(tmp_path: Path) -> None:
    """SQLite alters a table by copying it; with foreign keys on, dropping the old process_instances would cascade
    into every case's history (it did, once): the upgrade must keep every row of every table."""
    db = Database(f"sqlite:///{tmp_path / 'keep.db'}")
    _upgrade_keeps_every_row(db)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1  # on again for the application
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
    db.dispose()


def test_upgrading_from_the_last_release_keeps_every_row_on_postgresql() -> None:
    base = require_postgres()
    name = f"samflode_migrate_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        make_url(base.replace("postgresql://", "postgresql+psycopg://", 1)), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
        db = Database(url)
        try:
            _upgrade_keeps_every_row(db)
            with db.engine.connect() as conn:
                compression = conn.exec_driver_sql(
                    "SELECT attcompression FROM pg_attribute"
                    " WHERE attrelid = 'process_instances'::regclass AND attname = 'state'"
                ).scalar_one()
            assert compression == "l"  # lz4 (0013): the state is rewritten on every step
        finally:
            db.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


def test_0019_pins_each_process_to_the_version_it_starts_on_and_spells_unit_kinds_one_way(tmp_path: Path) -> None:
    """Issue 15: after the upgrade a deploy no longer changes the version new cases start on, so every process
    gets the default it had (its newest executable version; a chosen default stays); unit kinds spelled without
    å/ä become the directory's spelling (engine.domain.organisation.UnitKind); incidents gain what failed."""
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    command.upgrade(db.alembic_config(), "0015")
    now = "2026-01-12 08:00:00.000000"
    with db.engine.begin() as conn:
        for id_, process, version, executable in ((1, "p", 1, 1), (2, "p", 2, 1), (3, "p", 3, 0), (4, "q", 1, 1)):
            conn.execute(
                text(
                    "INSERT INTO process_definitions (id, process_id, version, xml, content_hash, executable,"
                    " diagnostics, elements, lanes, start_messages, dependencies, forms, deployed_by, deployed_at,"
                    " comment) VALUES (:id, :p, :v, x'00', :h, :e, '[]', '{}', '[]', '[]', '{}', '{}', 'agnes',"
                    " :now, '')"
                ),
                {"id": id_, "p": process, "v": version, "h": f"h{id_}", "e": executable, "now": now},
            )
        conn.execute(
            text(
                "INSERT INTO default_versions (process_id, unit_kind, unit, definition_id, set_by, set_at)"
                " VALUES ('q', '', '', 4, 'irma', :now)"
            ),
            {"now": now},
        )
        for id_, hsa, kind in ((1, "SE2321000057-VC1", "vardcentral"), (2, "SE2321000057-HS1", "Hemsjukvard")):
            conn.execute(
                text(
                    "INSERT INTO org_units (id, hsa_id, name, kind, kommun, created_at, updated_at)"
                    " VALUES (:id, :hsa, 'Enhet', :kind, 'Eksjö', :now, :now)"
                ),
                {"id": id_, "hsa": hsa, "kind": kind, "now": now},
            )
    db.upgrade()
    with db.engine.connect() as conn:
        defaults = conn.execute(
            text("SELECT process_id, definition_id, set_by FROM default_versions ORDER BY process_id")
        ).all()
        kinds = conn.execute(text("SELECT kind FROM org_units ORDER BY id")).scalars().all()
        columns = {c[1] for c in conn.execute(text("PRAGMA table_info(incidents)"))}
    db.dispose()
    assert [tuple(r) for r in defaults] == [("p", 2, "migration-0019"), ("q", 4, "irma")]
    assert kinds == ["vårdcentral", "hemsjukvård"]
    assert {"expression", "seen_values", "failures"} <= columns


def _0024_keeps_users_and_gives_them_swedish(db: Database) -> None:
    command.upgrade(db.alembic_config(), "0023")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, username, name, roles, units, active, created_at, email)"
                " VALUES (1, 'vera', 'Vera', '[]', '[]', true, '2026-01-12 08:00:00', 'vera@example.se')"
            )
        )
    command.upgrade(db.alembic_config(), "0024")
    with db.engine.begin() as conn:
        assert conn.execute(text("SELECT username, email, language FROM users")).one() == (
            "vera",
            "vera@example.se",
            "sv",
        )
        conn.execute(text("UPDATE users SET language = 'en'"))
    command.downgrade(db.alembic_config(), "0023")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT username, email FROM users")).one() == ("vera", "vera@example.se")
        assert "language" not in list(conn.execute(text("SELECT * FROM users")).keys())
    command.upgrade(db.alembic_config(), "head")


def test_0024_gives_every_user_swedish_and_downgrades_without_losing_a_user_on_sqlite(tmp_path: Path) -> None:
    """Issue 15: users.language (the language the user chose; the notices' e-mail is written in it) is 'sv' for
    every user there was; the downgrade drops only the column."""
    db = Database(f"sqlite:///{tmp_path / 'lang.db'}")
    try:
        _0024_keeps_users_and_gives_them_swedish(db)
    finally:
        db.dispose()


def test_0024_gives_every_user_swedish_and_downgrades_without_losing_a_user_on_postgresql() -> None:
    base = require_postgres()
    name = f"samflode_migrate_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        make_url(base.replace("postgresql://", "postgresql+psycopg://", 1)), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        db = Database(make_url(base).set(database=name).render_as_string(hide_password=False))
        try:
            _0024_keeps_users_and_gives_them_swedish(db)
        finally:
            db.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()
