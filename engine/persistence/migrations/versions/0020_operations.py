"""Issue 17 (past one machine):
- scheduler_slots: the configured scheduler slots and each holder's heartbeat (engine/jobs/heartbeat.py), so that exactly
  the configured number of scheduler processes fire timers and /readyz can tell that they live.
- PostgreSQL only: a statement trigger on timers that sends NOTIFY samflode_timers in the transaction that writes
  or moves a timer. PostgreSQL delivers it when that transaction commits, so the scheduler processes (LISTEN,
  engine/jobs/wakeup.py) wake at once instead of on their safety interval. SQLite keeps the in-process wake-up.
No existing row is changed.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# Column types as this revision wrote them, frozen here (a migration imports no engine code): the models'
# UtcDateTime is DateTime(timezone=True) in the database, their JsonType JSON (JSONB on PostgreSQL).
TZ = sa.DateTime(timezone=True)

CHANNEL = "samflode_timers"


def upgrade() -> None:
    op.create_table(
        "scheduler_slots",
        sa.Column("slot", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("holder", sa.String(100), nullable=True),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("beat_at", TZ, nullable=True),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION samflode_timers_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('{CHANNEL}', '');
                RETURN NULL;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER timers_notify AFTER INSERT OR UPDATE OF due_at, next_attempt_at ON timers "
            "FOR EACH STATEMENT EXECUTE FUNCTION samflode_timers_notify()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS timers_notify ON timers")
        op.execute("DROP FUNCTION IF EXISTS samflode_timers_notify()")
    op.drop_table("scheduler_slots")
