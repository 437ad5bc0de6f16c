"""model_drafts: process owners' drafts in the modeller, one per user and process, autosaved while editing

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Column types as this revision wrote them, frozen here (a migration imports no engine code): the models'
# UtcDateTime is DateTime(timezone=True) in the database, their JsonType JSON (JSONB on PostgreSQL).
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "model_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_drafts")),
        sa.UniqueConstraint("username", "process_id", name="uq_model_drafts_username_process_id"),
    )
    with op.batch_alter_table("model_drafts") as batch:
        batch.create_index("ix_model_drafts_username", ["username"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("model_drafts") as batch:
        batch.drop_index("ix_model_drafts_username")
    op.drop_table("model_drafts")
