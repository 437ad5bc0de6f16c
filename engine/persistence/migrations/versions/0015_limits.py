"""Issue 13 (nothing can hang, crash or poison the platform):
- process_instances.stay_key: a digest of the correlation (personnummer + vardtillfalle_id) of a case started by a
  journal message, with a partial unique index over (process_id, stay_key) for the cases still going (running,
  waiting, incident). Two concurrent messages for one stay start one case on PostgreSQL too: the second insert fails
  on the index instead of both passing a check-then-insert. Existing rows keep NULL (not part of the index): no
  data is changed, and a database that already holds duplicates from before upgrades all the same.
- timers.attempts, next_attempt_at, last_error: a timer whose firing raises is tried again with back-off and after
  a few attempts becomes an incident (engine/jobs/scheduler.py, Runtime.timer_failed).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Column types as this revision wrote them, frozen here (a migration imports no engine code): the models'
# UtcDateTime is DateTime(timezone=True) in the database, their JsonType JSON (JSONB on PostgreSQL).
TZ = sa.DateTime(timezone=True)

ACTIVE = "status IN ('running', 'waiting', 'incident') AND stay_key IS NOT NULL"


def upgrade() -> None:
    op.add_column("process_instances", sa.Column("stay_key", sa.String(64), nullable=True))
    op.create_index(
        "uq_process_instances_active_stay",
        "process_instances",
        ["process_id", "stay_key"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )
    op.add_column("timers", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("timers", sa.Column("next_attempt_at", TZ, nullable=True))
    op.add_column("timers", sa.Column("last_error", sa.Text(), nullable=True))
    op.create_index("ix_timers_next_attempt_at", "timers", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_timers_next_attempt_at", table_name="timers")
    with op.batch_alter_table("timers") as batch:
        batch.drop_column("last_error")
        batch.drop_column("next_attempt_at")
        batch.drop_column("attempts")
    op.drop_index("uq_process_instances_active_stay", table_name="process_instances")
    with op.batch_alter_table("process_instances") as batch:
        batch.drop_column("stay_key")
