"""process_instances.kommun / vardcentral / avdelning: the case's units as columns, filled from the case data of the
instances that exist (monitoring filters, figures per unit and pilot routing query them)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 18:50:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Column -> the case data key it is read from (engine.domain.catalog.CASE_UNIT_KEYS at the time of this migration).
UNIT_KEYS = {"kommun": "kommun", "vardcentral": "vardcentral_hsa_id", "avdelning": "avdelning_hsa_id"}


def upgrade() -> None:
    with op.batch_alter_table("process_instances") as batch:
        for column in UNIT_KEYS:
            batch.add_column(sa.Column(column, sa.String(length=100), nullable=True))
            batch.create_index(f"ix_process_instances_{column}", [column], unique=False)
    connection = op.get_bind()
    instances = sa.table(
        "process_instances",
        sa.column("id", sa.Integer),
        sa.column("data", sa.JSON),
        *(sa.column(column, sa.String) for column in UNIT_KEYS),
    )
    rows = connection.execute(sa.select(instances.c.id, instances.c.data)).all()
    for row in rows:
        data = row.data
        if isinstance(data, str):
            data = json.loads(data)
        if not isinstance(data, dict):
            continue
        values = {column: str(data[key])[:100] for column, key in UNIT_KEYS.items() if data.get(key) not in (None, "")}
        if values:
            connection.execute(sa.update(instances).where(instances.c.id == row.id).values(**values))


def downgrade() -> None:
    with op.batch_alter_table("process_instances") as batch:
        for column in UNIT_KEYS:
            batch.drop_index(f"ix_process_instances_{column}")
            batch.drop_column(column)
