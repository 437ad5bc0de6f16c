"""migration_runs and migration_results: batch migrations of running instances to another version, with the state
before each so that it can be reverted (engine/features/migration.py). New tables; existing data is untouched.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 19:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JsonType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Column types as this revision wrote them, frozen here (a migration imports no engine code): the models'
# UtcDateTime is DateTime(timezone=True) in the database, their JsonType JSON (JSONB on PostgreSQL).
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "migration_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("target_definition_id", sa.Integer(), nullable=False),
        sa.Column("target_version", sa.Integer(), nullable=False),
        sa.Column("mapping", JsonType, nullable=False),
        sa.Column("selection", JsonType, nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("migrated", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("reverted", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["target_definition_id"],
            ["process_definitions.id"],
            name=op.f("fk_migration_runs_target_definition_id_process_definitions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_runs")),
    )
    op.create_index(op.f("ix_migration_runs_process_id"), "migration_runs", ["process_id"], unique=False)
    op.create_table(
        "migration_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("from_definition_id", sa.Integer(), nullable=True),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("before", JsonType, nullable=False),
        sa.Column("state_before", sa.Text(), nullable=True),
        sa.Column("lock_version_after", sa.Integer(), nullable=True),
        sa.Column("history_id_after", sa.Integer(), nullable=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("reverted_at", TZ, nullable=True),
        sa.Column("reverted_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["process_instances.id"],
            name=op.f("fk_migration_results_instance_id_process_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["migration_runs.id"],
            name=op.f("fk_migration_results_run_id_migration_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_results")),
    )
    op.create_index(op.f("ix_migration_results_instance_id"), "migration_results", ["instance_id"], unique=False)
    op.create_index(op.f("ix_migration_results_run_id"), "migration_results", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_migration_results_run_id"), table_name="migration_results")
    op.drop_index(op.f("ix_migration_results_instance_id"), table_name="migration_results")
    op.drop_table("migration_results")
    op.drop_index(op.f("ix_migration_runs_process_id"), table_name="migration_runs")
    op.drop_table("migration_runs")
