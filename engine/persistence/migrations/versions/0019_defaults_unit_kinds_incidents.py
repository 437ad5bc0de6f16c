"""Issue 15 (coordinators and process owners):
- default_versions: every process with an executable version gets a process-wide default row for the version it
  starts on today (the newest executable one, the old fallback), so that deploying a new version no longer changes
  the version new cases start on (engine/features/pilots.py). Nothing is removed; downgrade keeps the rows (they say what the
  old fallback said at upgrade time).
- org_units.kind: one spelling (engine.organisation.UnitKind): "vardcentral", "hemsjukvard", "socialtjanst" as an
  older import could store them become "vårdcentral", "hemsjukvård", "socialtjänst".
- incidents.expression, seen_values, failures: what failed and the values it saw; how often a retry failed again.

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-03 07:30:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None

# Column types as this revision wrote them, frozen here (a migration imports no engine code): the models'
# UtcDateTime is DateTime(timezone=True) in the database, their JsonType JSON (JSONB on PostgreSQL).
TZ = sa.DateTime(timezone=True)
JsonType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

SPELLINGS = {"vardcentral": "vårdcentral", "hemsjukvard": "hemsjukvård", "socialtjanst": "socialtjänst"}


def upgrade() -> None:
    op.add_column("incidents", sa.Column("expression", sa.Text(), nullable=True))
    op.add_column("incidents", sa.Column("seen_values", JsonType, nullable=True))
    op.add_column("incidents", sa.Column("failures", sa.Integer(), nullable=False, server_default="1"))
    bind = op.get_bind()
    units = sa.table("org_units", sa.column("kind", sa.String))
    for old, new in SPELLINGS.items():
        bind.execute(sa.update(units).where(sa.func.lower(units.c.kind) == old).values(kind=new))
    definitions = sa.table(
        "process_definitions",
        sa.column("id", sa.Integer),
        sa.column("process_id", sa.String),
        sa.column("version", sa.Integer),
        sa.column("executable", sa.Boolean),
    )
    defaults = sa.table(
        "default_versions",
        sa.column("process_id", sa.String),
        sa.column("unit_kind", sa.String),
        sa.column("unit", sa.String),
        sa.column("definition_id", sa.Integer),
        sa.column("pilot_id", sa.Integer),
        sa.column("set_by", sa.String),
        sa.column("set_at", TZ),
    )
    having = {
        row.process_id
        for row in bind.execute(
            sa.select(defaults.c.process_id).where(defaults.c.unit_kind == "", defaults.c.unit == "")
        )
    }
    newest: dict[str, tuple[int, int]] = {}
    for row in bind.execute(
        sa.select(definitions.c.id, definitions.c.process_id, definitions.c.version).where(
            definitions.c.executable.is_(True)
        )
    ):
        if row.process_id not in newest or row.version > newest[row.process_id][1]:
            newest[row.process_id] = (row.id, row.version)
    now = datetime.now(UTC)
    rows = [
        {
            "process_id": process_id,
            "unit_kind": "",
            "unit": "",
            "definition_id": definition_id,
            "pilot_id": None,
            "set_by": "migration-0019",
            "set_at": now,
        }
        for process_id, (definition_id, _) in sorted(newest.items())
        if process_id not in having
    ]
    if rows:
        op.bulk_insert(defaults, rows)


def downgrade() -> None:
    op.drop_column("incidents", "failures")
    op.drop_column("incidents", "seen_values")
    op.drop_column("incidents", "expression")
