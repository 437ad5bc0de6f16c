"""Pilots and default versions: a process version run for some units during a period, the default version per process
(and per unit after a stepwise promotion), and on every instance which version it runs and why (existing instances:
`default`, the only rule there was)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "pilots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("mixed_rule", sa.String(length=20), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("kommuner", JSON_TYPE, nullable=False),
        sa.Column("vardcentraler", JSON_TYPE, nullable=False),
        sa.Column("avdelningar", JSON_TYPE, nullable=False),
        sa.Column("staff_questionnaire", sa.Boolean(), nullable=False),
        sa.Column("person_questionnaire", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["definition_id"], ["process_definitions.id"], name=op.f("fk_pilots_definition_id_process_definitions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pilots")),
    )
    op.create_index(op.f("ix_pilots_process_id"), "pilots", ["process_id"], unique=False)
    op.create_table(
        "default_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("unit_kind", sa.String(length=20), nullable=False),
        sa.Column("unit", sa.String(length=100), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("pilot_id", sa.Integer(), nullable=True),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["process_definitions.id"],
            name=op.f("fk_default_versions_definition_id_process_definitions"),
        ),
        sa.ForeignKeyConstraint(
            ["pilot_id"], ["pilots.id"], name=op.f("fk_default_versions_pilot_id_pilots"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_default_versions")),
        sa.UniqueConstraint("process_id", "unit_kind", "unit", name="uq_default_versions_process_unit"),
    )
    op.create_index(op.f("ix_default_versions_process_id"), "default_versions", ["process_id"], unique=False)
    with op.batch_alter_table("process_instances") as batch:
        batch.add_column(sa.Column("routing", sa.String(length=20), server_default="default", nullable=False))
        batch.add_column(sa.Column("pilot_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("route_reason", sa.String(length=300), server_default="", nullable=False))
        batch.create_index(batch.f("ix_process_instances_pilot_id"), ["pilot_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_process_instances_pilot_id_pilots"), "pilots", ["pilot_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("process_instances") as batch:
        batch.drop_constraint(batch.f("fk_process_instances_pilot_id_pilots"), type_="foreignkey")
        batch.drop_index(batch.f("ix_process_instances_pilot_id"))
        batch.drop_column("route_reason")
        batch.drop_column("pilot_id")
        batch.drop_column("routing")
    op.drop_index(op.f("ix_default_versions_process_id"), table_name="default_versions")
    op.drop_table("default_versions")
    op.drop_index(op.f("ix_pilots_process_id"), table_name="pilots")
    op.drop_table("pilots")
