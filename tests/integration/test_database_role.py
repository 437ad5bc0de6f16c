"""The application's own database role on PostgreSQL (docs/privacy.md): it reads and writes what the platform needs,
but cannot change, empty or unprotect the access log, which the owner alone could. Marked `postgres`: skipped on a
laptop without PostgreSQL, a failure in CI."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.persistence.db import Database
from engine.persistence.roles import privilege_warnings, set_up_application_role

pytestmark = pytest.mark.postgres
ROLE = "samflode_app_test"


def _drop_role(db: Database) -> None:
    with db.engine.begin() as conn:
        if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": ROLE}).first():
            conn.exec_driver_sql(f"DROP OWNED BY {ROLE}")
            conn.exec_driver_sql(f"DROP ROLE {ROLE}")


def test_the_application_role_cannot_change_empty_or_unprotect_the_access_log(postgres_platform):
    owner = postgres_platform.db
    _drop_role(owner)
    try:
        done = set_up_application_role(owner, ROLE)
        assert done[0].startswith("CREATE ROLE") and set_up_application_role(owner, ROLE)  # idempotent
        url = owner.engine.url.set(username=ROLE, password=None)
        app = Database(url.render_as_string(hide_password=False))
        try:
            with app.engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO access_log (at, username, user_name, unit, action, personnummer, detail) "
                        "VALUES (now(), 'vera', 'Vera', 'SE2321000057-HSMEDGER', 'person', '19380312-2385', '')"
                    )
                )
                assert conn.execute(text("SELECT count(*) FROM access_log")).scalar() == 1
                conn.execute(text("SELECT count(*) FROM process_instances"))
            for statement in (
                "UPDATE access_log SET username = 'x'",
                "DELETE FROM access_log",
                "TRUNCATE access_log",
                "ALTER TABLE access_log DISABLE TRIGGER ALL",
                "DROP TRIGGER access_log_append_only ON access_log",
                "DELETE FROM audit_log",
                "CREATE TABLE mine (id int)",
            ):
                with pytest.raises(DBAPIError), app.engine.begin() as conn:
                    conn.execute(text(statement))
            with app.engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM access_log")).scalar() == 1
            assert privilege_warnings(app) == []
        finally:
            app.dispose()
        assert any("superanvändare" in w for w in privilege_warnings(owner))  # the suite runs as postgres
    finally:
        _drop_role(owner)
