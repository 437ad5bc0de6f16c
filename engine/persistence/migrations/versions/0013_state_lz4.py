"""PostgreSQL: process_instances.state compressed with lz4 instead of pglz. The state (about 20 KB of JSON) is
rewritten on every step of a case; pglz compressing it was a tenth of a timer firing (bench/timers.py, profiled:
6.1 -> 5.4 ms per firing). Existing rows keep their compression until rewritten; nothing else changes. SQLite and
a PostgreSQL built without lz4 are left as they are.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 20:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _lz4_available() -> bool:
    bind = op.get_bind()
    version = bind.dialect.server_version_info or (0,)
    if bind.dialect.name != "postgresql" or version < (14,):
        return False
    return bool(
        bind.exec_driver_sql(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar()
    )


def upgrade() -> None:
    if _lz4_available():
        op.execute("ALTER TABLE process_instances ALTER COLUMN state SET COMPRESSION lz4")


def downgrade() -> None:
    if _lz4_available():
        op.execute("ALTER TABLE process_instances ALTER COLUMN state SET COMPRESSION default")
