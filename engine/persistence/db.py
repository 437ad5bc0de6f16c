"""Database engine, migrations and the unit of work (convention 2: only the unit of work commits)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, echo: bool = False) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        if url not in ("sqlite://", "sqlite:///:memory:"):
            path = url.split("///", 1)[1]
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False})
        _sqlite_setup(engine)
        return engine
    engine = create_engine(url, echo=echo, pool_size=10, max_overflow=10)
    _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE = 1.0  # seconds a pooled connection may rest before it is pinged at its next checkout


def _ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling, as `pool_pre_ping` does it, but only for a connection that rested in the pool
    longer than PING_AFTER_IDLE: one handed back a moment ago (the previous read of the same request, a busy server)
    is alive, and a ping at every checkout was a round trip of every read (six to a worklist page). A connection
    that fails its ping is thrown away and the pool connects anew (SQLAlchemy retries the checkout). What is given
    up: a database restarted within that second fails the request that meets it, as one in flight would."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["samflode_rested_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("samflode_rested_since")
        if since is not None and time.monotonic() - since <= PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure of the ping: the connection is not to be used
            raise DisconnectionError() from exc


def _sqlite_setup(engine: Engine) -> None:
    """WAL for concurrent readers, foreign keys on, and BEGIN IMMEDIATE for writing units of work so that two
    writers queue on SQLite's lock instead of failing half-way."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if conn.get_execution_options().get("samflode_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


class Database:
    def __init__(self, url: str, echo: bool = False):
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self.dialect = self.engine.dialect.name
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        # Reads on PostgreSQL run without a transaction of their own (autocommit): at READ COMMITTED each statement
        # sees what was committed when it started, inside a transaction or not, so a read answers the same; what it
        # saves is the BEGIN and the ROLLBACK, two round trips of every read (a worklist page made seven reads:
        # fourteen round trips, and as many wake-ups of a database backend, on a machine whose cores were saturated
        # at 30 requests/s). SQLite keeps its BEGIN: there a read transaction is a snapshot.
        self._read_sessions = (
            sessionmaker(
                self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False, autoflush=True
            )
            if self.dialect == "postgresql"
            else self._sessions
        )
        self._heads: frozenset[str] | None = None

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A writing transaction: committed once at the end, rolled back on any exception."""
        session = self._sessions()
        try:
            session.connection(execution_options={"samflode_write": True})
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """Queries only: never commits, and nothing may be written here (on PostgreSQL its statements are not in a
        transaction, see __init__)."""
        session = self._read_sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        config.attributes["engine"] = self.engine
        return config

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (idempotent; never drops data)."""
        command.upgrade(self.alembic_config(), "head")

    def at_head(self) -> bool:
        """Whether the schema is at the newest migration (without changing anything)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        if self._heads is None:  # the migration files do not change while the process runs (/readyz asks often)
            self._heads = frozenset(ScriptDirectory.from_config(self.alembic_config()).get_heads())
        heads = self._heads
        with self.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
        return current == heads

    def has_schema(self) -> bool:
        return inspect(self.engine).has_table("alembic_version")

    def dispose(self) -> None:
        self.engine.dispose()


def psycopg_url(url: str) -> str:
    """A libpq connection string from the SQLAlchemy URL (postgresql+psycopg://... or postgresql://...)."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url
