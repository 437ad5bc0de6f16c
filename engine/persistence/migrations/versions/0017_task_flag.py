"""Issue 14 (the journal's messages are heard whenever they come):
- task_index.flag: a short text shown with an open task when the case has moved past the point the task belongs to
  (a planning task still open when the UK notice went out: "Inte klar när den enskilde blev utskrivningsklar").
  Nullable; existing rows keep NULL (no flag), so nothing is lost on upgrade.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("task_index", sa.Column("flag", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_index") as batch:
        batch.drop_column("flag")
