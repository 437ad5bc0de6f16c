"""The database role the application runs as in production (PostgreSQL), and the warnings when it runs as more.

Migrations run as the database's owner (`samflode init-db`); the web and scheduler processes run as a role that owns
nothing: it reads and writes the tables, but may only add to the access log and the audit log. Turning the access
log's triggers off or emptying it takes the owner; the application's role cannot (Patientdatalagen 4 kap. 3 §:
the log is kept against the application itself). docs/privacy.md tells the set-up step by step.
"""

from __future__ import annotations

import re

from sqlalchemy import text

from engine.persistence.db import Database

APPEND_ONLY_TABLES = ("access_log", "audit_log", "alembic_version")
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _identifier(name: str) -> str:
    if not _ROLE.match(name):
        raise ValueError("rollnamnet får bara ha a-z, 0-9 och _ (högst 63 tecken) och inte börja med en siffra")
    return f'"{name}"'


def application_role_statements(role: str, owner: str, database: str) -> list[str]:
    """The SQL that makes `role` the application's role (idempotent grants; the role itself is created apart)."""
    r, o, d = _identifier(role), _identifier(owner), f'"{database}"'
    locked = ", ".join(APPEND_ONLY_TABLES)
    return [
        f"GRANT CONNECT ON DATABASE {d} TO {r}",
        f"GRANT USAGE ON SCHEMA public TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {locked} FROM {r}",
        "REVOKE INSERT ON alembic_version FROM " + r,
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {r}",
        # Tables and sequences a later migration creates (as the owner) are the application's to use too.
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {r}",
    ]


def set_up_application_role(db: Database, role: str, password: str | None = None) -> list[str]:
    """Create `role` (LOGIN, no superuser, no CREATE, no ownership) if it is missing and grant it what the
    application needs, as the connected owner. Returns the statements run (the password shown as ***)."""
    if db.dialect != "postgresql":
        raise ValueError("Databasrollen gäller PostgreSQL; SQLite har inga roller (se docs/privacy.md)")
    r = _identifier(role)
    done: list[str] = []
    with db.engine.begin() as conn:
        owner = str(conn.execute(text("SELECT current_user")).scalar())
        database = str(conn.execute(text("SELECT current_database()")).scalar())
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first() is not None
        if not exists:
            conn.exec_driver_sql(f"CREATE ROLE {r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT")
            done.append(f"CREATE ROLE {r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT")
        if password is not None:
            quoted = conn.execute(text("SELECT quote_literal(:p)"), {"p": password}).scalar()
            conn.exec_driver_sql(f"ALTER ROLE {r} WITH LOGIN PASSWORD {quoted}")
            done.append(f"ALTER ROLE {r} WITH LOGIN PASSWORD '***'")
        for statement in application_role_statements(role, owner, database):
            conn.exec_driver_sql(statement)
            done.append(statement)
    return done


def privilege_warnings(db: Database) -> list[str]:
    """What is wrong with the role the platform is connected as, for a production start: a superuser, or the owner
    of the access log, can switch its protection off."""
    if db.dialect != "postgresql":
        return []
    warnings = []
    with db.engine.connect() as conn:
        superuser = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
        owner = conn.execute(
            text(
                "SELECT tableowner = current_user FROM pg_tables "
                "WHERE schemaname = 'public' AND tablename = 'access_log'"
            )
        ).scalar()
    if superuser:
        warnings.append(
            "Samflöde körs som superanvändare i databasen: åtkomstloggens skydd kan stängas av. "
            "Kör webben och tidsstyrningen som en egen roll (samflode db-role, docs/privacy.md)."
        )
    elif owner:
        warnings.append(
            "Samflöde körs som ägare till tabellerna: åtkomstloggens triggrar kan stängas av. "
            "Kör webben och tidsstyrningen som en egen roll (samflode db-role, docs/privacy.md)."
        )
    return warnings
