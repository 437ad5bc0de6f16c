"""`samflode backup FILE` and `samflode restore FILE` (issue 17).

SQLite: the online backup API (sqlite3.Connection.backup) copies a consistent snapshot while the platform runs, and
copies a backup back over the live database the same way. PostgreSQL: pg_dump in its custom format (-Fc) and
pg_restore --clean --if-exists --single-transaction (all or nothing), run as the database's owner. The tools are
PostgreSQL's client programs (postgresql-client); their errors are shown as they come.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from engine.domain.text import Text
from engine.persistence.db import psycopg_url


class BackupError(Exception):
    pass


def _sqlite_path(url: str) -> Path:
    if url in ("sqlite://", "sqlite:///:memory:"):
        raise BackupError("En databas i minnet kan inte säkerhetskopieras")
    return Path(url.split("///", 1)[1])


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(Text("%(name)s saknas: installera PostgreSQL:s klientprogram (postgresql-client)", name=name))
    return found


def backup(database_url: str, target: Path) -> Path:
    """Write a backup of the database to `target` (refuses to overwrite an existing file)."""
    if target.exists():
        raise BackupError(Text("%(target)s finns redan; välj ett nytt filnamn", target=target))
    target.parent.mkdir(parents=True, exist_ok=True)
    if database_url.startswith("sqlite"):
        source = _sqlite_path(database_url)
        if not source.exists():
            raise BackupError(Text("Databasen %(source)s finns inte", source=source))
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        src.close()
        dst.close()
        return target
    if database_url.startswith("postgresql"):
        done = subprocess.run(
            [_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(target), psycopg_url(database_url)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            target.unlink(missing_ok=True)
            raise BackupError(Text("pg_dump misslyckades: %(error)s", error=done.stderr.strip()))
        return target
    raise BackupError("Okänd databastyp (sqlite eller postgresql)")


def restore(database_url: str, source: Path) -> None:
    """Replace the database's content with the backup in `source`. Stop the web and scheduler processes first."""
    if not source.is_file():
        raise BackupError(Text("Säkerhetskopian %(source)s finns inte", source=source))
    if database_url.startswith("sqlite"):
        target = _sqlite_path(database_url)
        with sqlite3.connect(source) as src:
            try:
                src.execute("SELECT count(*) FROM alembic_version").fetchone()
            except sqlite3.DatabaseError as exc:
                raise BackupError(
                    Text("%(source)s är ingen säkerhetskopia av en Samflöde-databas: %(exc)s", source=source, exc=exc)
                ) from exc
            target.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(target) as dst:
                src.backup(dst)
            dst.close()
        src.close()
        return
    if database_url.startswith("postgresql"):
        done = subprocess.run(
            [
                _tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
                "--dbname",
                psycopg_url(database_url),
                str(source),
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise BackupError(Text("pg_restore misslyckades: %(error)s", error=done.stderr.strip()))
        return
    raise BackupError("Okänd databastyp (sqlite eller postgresql)")
