"""Issue 15 (English complete, daily use):
- users.language: the language the user chose for the pages ('sv' or 'en'), kept so that what reaches the user outside
  a page (the notices' e-mail, engine/jobs/notifications.py) is in that language too, and so that the choice holds at
  the next sign-in. Not null, 'sv' for every existing user (Swedish is the default), so nothing is lost on upgrade.
Written without importing the engine: the schema as it is today.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("language", sa.String(5), nullable=False, server_default="sv"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
