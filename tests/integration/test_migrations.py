"""Migrations: the chain builds exactly the schema the models describe, and upgrades keep and fill existing data."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from engine.persistence.db import Database
from engine.persistence.models import Base


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


def test_case_facts_are_back_filled_from_the_existing_history_on_upgrade(tmp_path: Path) -> None:
    """Migration 0006_figures derives the facts of the cases that exist from their history (nothing is lost), and
    0007_figures_deviations counts their deviations."""
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
    command.upgrade(db.alembic_config(), "0007_figures_deviations")  # this branch only (see the lead's note)
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
