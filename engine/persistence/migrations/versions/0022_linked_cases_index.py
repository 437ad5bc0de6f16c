"""Issue 15 (pages as fast as the API beneath them):
- ix_process_instances_parent_instance_id: the cases a case started (the case view's "children", read after every
  completion through the API and on every case page). Without it PostgreSQL scanned every instance and tested the
  need-to-know clause on each: 65-360 ms of an API completion at 100 000 cases (bench/worklist.py).
No existing row is changed.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 08:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_process_instances_parent_instance_id", "process_instances", ["parent_instance_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_process_instances_parent_instance_id", table_name="process_instances")
