"""task_index.role indexed: the API worklist of a role without lanes (coordinator) finds its own tasks without
scanning every open task (bench/worklist.py: 147 ms at 100 000 instances before, flat after)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 17:16:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_task_index_role"), "task_index", ["role"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_task_index_role"), table_name="task_index")
