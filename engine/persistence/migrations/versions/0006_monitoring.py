"""Indexes for the coordinators' instance list and heat map (issue 6): instances by start time (the "started
between" filter) and by process version, history by kind and time (the heat map's period) and by task; and on each
task_completed history row when its task was created and first taken (filled for the existing rows from their
task_created and claimed rows), so that the heat map reads one row per task

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 19:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Column types as this revision wrote them, frozen here (a migration imports no engine code): the models'
# UtcDateTime is DateTime(timezone=True) in the database, their JsonType JSON (JSONB on PostgreSQL).
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_index("ix_process_instances_started_at", "process_instances", ["started_at"], unique=False)
    op.create_index(
        "ix_process_instances_process_version", "process_instances", ["process_id", "version"], unique=False
    )
    op.create_index("ix_history_kind_at", "history", ["kind", "at"], unique=False)
    op.create_index("ix_history_task_id", "history", ["task_id"], unique=False)
    op.add_column("history", sa.Column("task_created_at", TZ, nullable=True))
    op.add_column("history", sa.Column("task_claimed_at", TZ, nullable=True))
    for column, kinds in (("task_created_at", "'task_created'"), ("task_claimed_at", "'claimed', 'reassigned'")):
        op.execute(
            f"UPDATE history SET {column} = (SELECT min(h.at) FROM history h WHERE h.task_id = history.task_id"
            f" AND h.instance_id = history.instance_id AND h.kind IN ({kinds}))"
            " WHERE kind = 'task_completed' AND task_id IS NOT NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("history") as batch:
        batch.drop_column("task_claimed_at")
        batch.drop_column("task_created_at")
    op.drop_index("ix_history_task_id", table_name="history")
    op.drop_index("ix_history_kind_at", table_name="history")
    op.drop_index("ix_process_instances_process_version", table_name="process_instances")
    op.drop_index("ix_process_instances_started_at", table_name="process_instances")
