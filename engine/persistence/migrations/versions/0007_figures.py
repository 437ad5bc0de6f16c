"""case_facts: one row per in_utskrivning case with its milestones for the figures, back-filled from the history of the
cases that exist (the same pure derivation, engine/domain/facts.py, that Runtime._save runs after every step)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 19:20:00
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
CHUNK = 1000  # cases derived per round: their instance rows and history in two queries


def upgrade() -> None:
    op.create_table("case_facts", *_columns())
    op.create_index("ix_case_facts_definition_id", "case_facts", ["definition_id"], unique=False)
    op.create_index("ix_case_facts_vardcentral", "case_facts", ["vardcentral"], unique=False)
    op.create_index("ix_case_facts_avdelning", "case_facts", ["avdelning"], unique=False)
    op.create_index("ix_case_facts_process_ref_date", "case_facts", ["process_id", "ref_date"], unique=False)
    op.create_index("ix_case_facts_kommun_ref_month", "case_facts", ["kommun", "ref_month"], unique=False)
    _backfill()


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


COLUMNS = frozenset(c.name for c in _columns() if isinstance(c, sa.Column))


def _backfill() -> None:
    """Derive the facts of every existing case from its history, with the milestones and agreements of the
    installation's processes folder (SAMFLODE_PROCESSES_DIR, else processes/), a thousand cases at a time."""
    from engine.config import PROJECT_ROOT
    from engine.domain.catalog import Catalog
    from engine.domain.facts import MILESTONES_FILE, CaseFactsKeeper, CaseInput, HistoryRecord
    from engine.persistence.models import CaseFact, HistoryEntry, ProcessInstance

    connection = op.get_bind()
    folder = Path(os.environ.get("SAMFLODE_PROCESSES_DIR", str(PROJECT_ROOT / "processes")))
    if not (folder / MILESTONES_FILE).is_file():
        return
    keeper = CaseFactsKeeper(Catalog(folder))
    assert keeper.milestones is not None
    instances = ProcessInstance.__table__
    history = HistoryEntry.__table__
    # The table as this revision has it (later revisions add columns the model already knows), with the model's
    # column types so that times are written as the application writes them.
    facts_table = sa.table(
        "case_facts", *(sa.column(c.name, c.type) for c in CaseFact.__table__.columns if c.name in COLUMNS)
    )
    ids = list(
        connection.scalars(
            sa.select(instances.c.id)
            .where(instances.c.process_id == keeper.milestones.process_id)
            .order_by(instances.c.id)
        )
    )
    for offset in range(0, len(ids), CHUNK):
        chunk = ids[offset : offset + CHUNK]
        cases = connection.execute(
            sa.select(
                instances.c.id,
                instances.c.definition_id,
                instances.c.process_id,
                instances.c.version,
                instances.c.status,
                instances.c.started_at,
                instances.c.updated_at,
                instances.c.data,
                instances.c.kommun,
                instances.c.vardcentral,
                instances.c.avdelning,
            ).where(instances.c.id.in_(chunk))
        ).all()
        records: dict[int, list[HistoryRecord]] = {case_id: [] for case_id in chunk}
        for r in connection.execute(
            sa.select(history.c.instance_id, history.c.at, history.c.kind, history.c.element_id, history.c.data)
            .where(history.c.instance_id.in_(chunk))
            .order_by(history.c.instance_id, history.c.id)
        ):
            body = json.loads(r.data) if isinstance(r.data, str) else (r.data or {})
            records[r.instance_id].append(HistoryRecord(r.at, r.kind, r.element_id, body))
        batch: list[dict[str, object]] = []
        for case in cases:
            data = json.loads(case.data) if isinstance(case.data, str) else (case.data or {})
            facts = keeper.derive_for(
                CaseInput(
                    case.id,
                    case.definition_id,
                    case.process_id,
                    case.version,
                    case.status,
                    case.started_at,
                    data if isinstance(data, dict) else {},
                    case.kommun,
                    case.vardcentral,
                    case.avdelning,
                ),
                records[case.id],
            )
            values = {k: v for k, v in facts.as_dict().items() if k in COLUMNS}  # the table as this revision has it
            batch.append({**values, "updated_at": case.updated_at})
        if batch:
            connection.execute(sa.insert(facts_table), batch)


def downgrade() -> None:
    op.drop_table("case_facts")
