"""Issue 16 (durable background jobs):
- jobs: background work as rows (engine/jobs/queue.py) claimed by the scheduler process with a lease (SKIP LOCKED on
  PostgreSQL): simulations and the notifications' sync and e-mail. A restart loses nothing; a job whose process died
  is claimed again when its lease runs out; failures are retried up to max_attempts and then end as failed.
- PostgreSQL only: a statement trigger on jobs that sends NOTIFY samflode_timers (the function of migration 0020) when
  a job is queued, so the scheduler processes, which LISTEN on that channel, wake at once.
No existing row is changed. Written without importing the engine: the schema as it is today.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 13:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("payload", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("unique_key", sa.String(200), nullable=True),
        sa.Column("run_after", moment, nullable=False),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("claimed_until", moment, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("result_ref", sa.String(200), nullable=True),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("started_at", moment, nullable=True),
        sa.Column("finished_at", moment, nullable=True),
        sa.UniqueConstraint("unique_key", name="uq_jobs_unique_key"),
    )
    op.create_index("ix_jobs_status_run_after", "jobs", ["status", "run_after"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER jobs_notify AFTER INSERT ON jobs "
            "FOR EACH STATEMENT EXECUTE FUNCTION samflode_timers_notify()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS jobs_notify ON jobs")
    op.drop_index("ix_jobs_status_run_after", table_name="jobs")
    op.drop_table("jobs")
