"""web_sessions (server-side sessions: signing out ends every copy of the cookie) and an access log that the
application cannot change on either database.

- SQLite: triggers refuse UPDATE and DELETE on access_log (SQLite has no TRUNCATE).
- PostgreSQL: the row trigger of 0003 refuses UPDATE and DELETE; a statement trigger now refuses TRUNCATE too. Turning a
  trigger off takes the table's owner, which the application's role is not (docs/privacy.md: `samflode db-role`).

Nothing existing changes; the new table starts empty.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Column types as this revision wrote them, frozen here (a migration imports no engine code): the models'
# UtcDateTime is DateTime(timezone=True) in the database, their JsonType JSON (JSONB on PostgreSQL).
TZ = sa.DateTime(timezone=True)

SQLITE_TRIGGERS = {
    "access_log_no_update": "BEFORE UPDATE ON access_log",
    "access_log_no_delete": "BEFORE DELETE ON access_log",
}


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("end_reason", sa.String(length=20), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
    )
    op.create_index(op.f("ix_web_sessions_username"), "web_sessions", ["username"], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS access_log_append_only")
        for name, when in SQLITE_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} {when} BEGIN "
                "SELECT RAISE(ABORT, 'access_log is append-only (Patientdatalagen 4 kap. 3 §)'); END"
            )
    elif bind.dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION access_log_no_truncate() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'access_log is append-only (Patientdatalagen 4 kap. 3 §)'; END $$"
        )
        op.execute(
            "CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION access_log_no_truncate()"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS access_log_no_truncate ON access_log")
        op.execute("DROP FUNCTION IF EXISTS access_log_no_truncate()")
    op.drop_index(op.f("ix_web_sessions_username"), table_name="web_sessions")
    op.drop_table("web_sessions")
