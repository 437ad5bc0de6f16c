"""Statements of the hot write path compiled once per dialect and run as the driver's SQL (issue 16 point 7).

A `Prepared` statement is a Core statement whose SQL SQLAlchemy compiles once per dialect (qmark on SQLite, pyformat
on PostgreSQL); each run converts the rows' values with the compiled statement's own bind processors (the columns'
types: aware datetimes to UTC, JSON encoded) and hands SQL and values to `Connection.exec_driver_sql`, on the unit of
work's connection and transaction: the same rows as `session.execute(statement, rows)` writes, without compiling,
caching and ORM machinery per statement. Statement events (`before_cursor_execute`) and SQLAlchemy's exception
types are kept.

Only statements without expanding parameters (`IN` over a list given at run time) are prepared: a list is rendered
into the SQL when the statement is compiled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Table, insert
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the bind parameters, in the SQL's order when positional
    positional: bool
    defaults: dict[str, Any]  # values the statement carries itself (literals turned into parameters)
    processors: dict[str, Callable[[Any], Any]]


class Prepared:
    """A statement compiled once per dialect. `columns`: for an INSERT without `.values()`, the columns the rows
    give."""

    def __init__(self, statement: ClauseElement, columns: Sequence[str] | None = None):
        self.statement = statement
        self.columns = list(columns) if columns is not None else None
        self._compiled: dict[tuple[str, str, str], _Compiled] = {}
        self._lock = threading.Lock()

    def compiled(self, dialect: Dialect) -> _Compiled:
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        hit = self._compiled.get(key)
        if hit is not None:
            return hit
        # (`for_executemany`: no RETURNING of the new rows' keys on PostgreSQL, which nothing here reads)
        compiled = cast(
            SQLCompiler, self.statement.compile(dialect=dialect, column_keys=self.columns, for_executemany=True)
        )
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("a prepared statement has no expanding parameters")
        positional = compiled.positiontup is not None
        binds = compiled.bind_names  # parameter -> its name in the SQL
        names = (
            tuple(compiled.positiontup) if compiled.positiontup is not None else tuple(dict.fromkeys(binds.values()))
        )
        defaults = {name: bp.effective_value for bp, name in binds.items() if not bp.required}
        processors: dict[str, Callable[[Any], Any]] = {}
        for name, processor in compiled._bind_processors.items():
            if name in names:
                if not callable(processor):
                    raise ValueError("a prepared statement has no tuple parameters")
                processors[name] = processor
        hit = _Compiled(compiled.string, names, positional, defaults, processors)
        with self._lock:
            self._compiled[key] = hit
        return hit

    def execute(
        self, connection: Connection, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> CursorResult[Any]:
        """Run on the connection: one row, or many rows as one executemany."""
        c = self.compiled(connection.dialect)
        if isinstance(rows, Mapping):
            return connection.exec_driver_sql(c.sql, self._values(c, rows))
        return connection.exec_driver_sql(c.sql, [self._values(c, row) for row in rows])

    @staticmethod
    def _values(c: _Compiled, row: Mapping[str, Any]) -> Any:
        processors, defaults = c.processors, c.defaults
        values = []
        for name in c.names:
            value = row[name] if name in row else defaults.get(name)
            processor = processors.get(name)
            values.append(processor(value) if processor is not None else value)
        return tuple(values) if c.positional else dict(zip(c.names, values, strict=True))


class PreparedInsert:
    """An INSERT of rows into `table`: as an executemany of one row's statement where that is cheap (SQLite, in
    process), and on PostgreSQL as ONE statement with a VALUES row per row (one round trip; the driver's executemany
    sends a statement per row), compiled once per number of rows (up to `per_statement` rows a statement).

    `values(suffix)`: one row's values, column -> expression, whose bind parameters are named `<name><suffix>`
    (`suffix` "" for the one-row statement, "_0", "_1", ... for the rows of a many-row one); the rows given to
    `execute` are keyed by the names without suffix."""

    def __init__(self, table: Table, values: Callable[[str], dict[str, Any]], per_statement: int = 50):
        self.table = table
        self.values = values
        self.per_statement = per_statement
        self.one = Prepared(insert(table).values(values("")))
        self._many: dict[int, Prepared] = {}
        self._lock = threading.Lock()

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if len(rows) == 1 or connection.dialect.name == "sqlite":
            self.one.execute(connection, rows[0] if len(rows) == 1 else rows)
            return
        for start in range(0, len(rows), self.per_statement):
            chunk = rows[start : start + self.per_statement]
            flat: dict[str, Any] = {}
            for i, row in enumerate(chunk):
                flat.update({f"{name}_{i}": value for name, value in row.items()})
            self._prepared(len(chunk)).execute(connection, flat)

    def _prepared(self, count: int) -> Prepared:
        hit = self._many.get(count)
        if hit is None:
            hit = Prepared(insert(self.table).values([self.values(f"_{i}") for i in range(count)]))
            with self._lock:
                self._many[count] = hit
        return hit
