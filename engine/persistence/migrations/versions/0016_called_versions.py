"""Issue 14 (a set of diagrams deploys in any order): process_instances.called_versions, the definitions a case
resolved the calls its definition left to run time to (a call to a process not deployed when the caller was). NULL
for every existing case: their definitions resolved all calls at deploy. No data is changed.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# The models' JsonType as this revision wrote it, frozen here (a migration imports no engine code).
JsonType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("process_instances", sa.Column("called_versions", JsonType, nullable=True))


def downgrade() -> None:
    op.drop_column("process_instances", "called_versions")
