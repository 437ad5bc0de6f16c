"""case_facts: one row per in_utskrivning case with its milestones for the figures. Schema only: a migration does not
run today's engine, so the facts of cases that existed before this revision are derived by `samflode rebuild-facts`
after the upgrade (the same derivation, engine/domain/facts.py, that the facts projector runs after every step;
docs/operations.md). Until then the figures leave those cases out.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 19:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table("case_facts", *_columns())
    op.create_index("ix_case_facts_definition_id", "case_facts", ["definition_id"], unique=False)
    op.create_index("ix_case_facts_vardcentral", "case_facts", ["vardcentral"], unique=False)
    op.create_index("ix_case_facts_avdelning", "case_facts", ["avdelning"], unique=False)
    op.create_index("ix_case_facts_process_ref_date", "case_facts", ["process_id", "ref_date"], unique=False)
    op.create_index("ix_case_facts_kommun_ref_month", "case_facts", ["kommun", "ref_month"], unique=False)


def _columns() -> list[sa.Column | sa.Constraint]:
    return [
        sa.Column("instance_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("kommun", sa.String(length=100), nullable=True),
        sa.Column("vardcentral", sa.String(length=100), nullable=True),
        sa.Column("avdelning", sa.String(length=100), nullable=True),
        sa.Column("avtal", sa.String(length=40), nullable=True),
        sa.Column("age_at_admission", sa.Integer(), nullable=True),
        sa.Column("admitted_at", TZ, nullable=False),
        sa.Column("ref_date", sa.Date(), nullable=False),
        sa.Column("ref_month", sa.String(length=7), nullable=False),
        sa.Column("ref_week", sa.String(length=8), nullable=False),
        sa.Column("inskrivningsmeddelande_at", TZ, nullable=True),
        sa.Column("inskrivningsmeddelande_on_time", sa.Boolean(), nullable=True),
        sa.Column("uk_at", TZ, nullable=True),
        sa.Column("last_uk_at", TZ, nullable=True),
        sa.Column("uk_notices", sa.Integer(), nullable=False),
        sa.Column("uk_withdrawals", sa.Integer(), nullable=False),
        sa.Column("planned_date_moves", sa.Integer(), nullable=False),
        sa.Column("discharged_at", TZ, nullable=True),
        sa.Column("uk_days", sa.Integer(), nullable=True),
        sa.Column("payable_days", sa.Integer(), nullable=True),
        sa.Column("home_at", TZ, nullable=True),
        sa.Column("home_within_24h", sa.Boolean(), nullable=True),
        sa.Column("sip_offered_at", TZ, nullable=True),
        sa.Column("sip_accepted", sa.Boolean(), nullable=True),
        sa.Column("sip_called_at", TZ, nullable=True),
        sa.Column("sip_call_on_time", sa.Boolean(), nullable=True),
        sa.Column("sip_held_at", TZ, nullable=True),
        sa.Column("sip_held_in_home", sa.Boolean(), nullable=True),
        sa.Column("svpl_on_time", sa.Boolean(), nullable=True),
        sa.Column("readmission", sa.Boolean(), nullable=False),
        sa.Column("fokuspatient", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["process_instances.id"],
            name="fk_case_facts_instance_id_process_instances",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", name="pk_case_facts"),
    ]


def downgrade() -> None:
    op.drop_table("case_facts")
