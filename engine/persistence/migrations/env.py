"""Alembic environment: uses the engine handed in by engine.persistence.db.Database (or the URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from engine.persistence.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    """SQLite alters most tables by copying them into a new one and dropping the old (batch mode). With foreign
    keys on, dropping process_instances would cascade and delete every history row, task and timer of every case:
    so they are off while migrating (a PRAGMA that only works outside a transaction, hence on the driver's
    connection in autocommit), and checked afterwards."""
    raw = connection.connection.driver_connection
    assert raw is not None
    raw.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    if on:
        broken = raw.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"Migreringen lämnade {len(broken)} rader utan sin förälder: {broken[:5]}")


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _sqlite_foreign_keys(connection, on=False)
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
        if sqlite:
            _sqlite_foreign_keys(connection, on=True)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
