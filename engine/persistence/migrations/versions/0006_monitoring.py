"""Indexes for the coordinators' instance list and heat map (issue 6): instances by start time (the "started
between" filter) and by process version, history by kind and time (the heat map's period) and by task (a task's
creation, claim and completion paired)

Revision ID: 0006_monitoring
Revises: 0005
Create Date: 2026-11-22 19:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0006_monitoring"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_process_instances_started_at", "process_instances", ["started_at"], unique=False)
    op.create_index(
        "ix_process_instances_process_version", "process_instances", ["process_id", "version"], unique=False
    )
    op.create_index("ix_history_kind_at", "history", ["kind", "at"], unique=False)
    op.create_index("ix_history_task_id", "history", ["task_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_history_task_id", table_name="history")
    op.drop_index("ix_history_kind_at", table_name="history")
    op.drop_index("ix_process_instances_process_version", table_name="process_instances")
    op.drop_index("ix_process_instances_started_at", table_name="process_instances")
