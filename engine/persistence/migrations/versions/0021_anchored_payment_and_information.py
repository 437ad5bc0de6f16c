"""Issue 14c (the law's clocks start at the law's events, second round): case_facts gains
- payable_from: the moment the payment clock of the latest UK period falls due (the betalningsansvar timer's moment),
- information_transferred_at and information_on_time: the information transfer and whether it met the agreement
  deadline `informationsoverforing` (end of the planned discharge date).
New nullable columns only: no existing row is changed; every case's facts are rewritten on its next step.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 08:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# Column types as this revision wrote them, frozen here (a migration imports no engine code): the models'
# UtcDateTime is DateTime(timezone=True) in the database, their JsonType JSON (JSONB on PostgreSQL).
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("case_facts") as batch:
        batch.add_column(sa.Column("payable_from", TZ, nullable=True))
        batch.add_column(sa.Column("information_transferred_at", TZ, nullable=True))
        batch.add_column(sa.Column("information_on_time", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_facts") as batch:
        batch.drop_column("information_on_time")
        batch.drop_column("information_transferred_at")
        batch.drop_column("payable_from")
