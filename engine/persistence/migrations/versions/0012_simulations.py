"""simulation_runs: simulations before a pilot, their parameters, progress and predicted figures (engine/features/simulation.py;
the simulated cases live in their own SQLite files, never here). A new table; existing data is untouched.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 19:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Column types as this revision wrote them, frozen here (a migration imports no engine code): the models'
# UtcDateTime is DateTime(timezone=True) in the database, their JsonType JSON (JSONB on PostgreSQL).
TZ = sa.DateTime(timezone=True)

JsonType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "simulation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("candidate_version", sa.Integer(), nullable=False),
        sa.Column("baseline_version", sa.Integer(), nullable=True),
        sa.Column("params", JsonType, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=False),
        sa.Column("result", JsonType, nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("folder", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulation_runs")),
    )
    op.create_index(op.f("ix_simulation_runs_process_id"), "simulation_runs", ["process_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_simulation_runs_process_id"), table_name="simulation_runs")
    op.drop_table("simulation_runs")
