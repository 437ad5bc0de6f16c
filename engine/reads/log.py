"""The access log's writer (Patientdatalagen 4 kap. 3 §, HSLF-FS 2016:40 4 kap. 9 §): one row per person whose data
an actor was shown or changed, with the actor's unit, the time and the action.

Only the read layer (engine/reads) and the service layer's commands call it, so that no entry point can forget: a
read returns its result only after its rows are written. The rows are append-only (migrations 0003 and 0014 make the
database refuse anything else).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any, cast

from sqlalchemy import Insert, String, Table, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from engine.domain.actors import Actor
from engine.domain.clock import Clock
from engine.persistence.db import Database
from engine.persistence.models import AccessLogEntry

# What each action code means (Swedish labels for the auditor's pages live in webui/labels.py).
ACTIONS = (
    "lista",  # a worklist (page or API) showed the person
    "sok",  # a worklist search (by name or personnummer) showed the person
    "uppgift",  # a task of the person's case was opened
    "visa_personnummer",  # the full personnummer was shown on request
    "person",  # the person's page
    "person_sok",  # a search by personnummer
    "instanslista",  # the coordinators' instance list (page or API)
    "instans_sok",  # an instance search by personnummer
    "instans",  # one case (instance page, API)
    "instans_atgard",  # a repair of the case (retry, cancel, move, fire, reassign, change of units)
    "utkast",  # a draft of a task form saved
    "slutfor",  # a task completed
    "ta",  # a task claimed
    "slapp",  # a task released
    "lamna_over",  # a task handed over
    "kommentar",  # a comment on a task (or a hand-over) written
    "starta",  # a case started
    "meddelande",  # a message delivered to, or starting, the case
    "migrering",  # a case previewed or moved to another version
    "logg_granskning",  # the auditor's search showed accesses to the person
    "loggutdrag",  # the person's log extract was taken out
)


def unit_of(actor: Actor) -> str:
    """The actor's unit as the log shows it: the HSA-ids (a kommun name only when there is no HSA-id)."""
    return ", ".join(sorted(u for u in actor.units if u.startswith("SE"))) or ", ".join(sorted(actor.units))


def rows(
    actor: Actor, action: str, persons: Iterable[tuple[str | None, int | None]], detail: str, now: object
) -> list[dict[str, object]]:
    """One row (the table's columns) per (personnummer, instance id); entries without a personnummer are not patient
    data. Plain dicts: a page's 50 rows are inserted as they are, without an ORM object each."""
    assert action in ACTIONS, action
    username, user_name, unit = actor.username, (actor.name or actor.username)[:200], unit_of(actor)[:200]
    detail = detail[:300]
    return [
        {
            "at": now,
            "username": username,
            "user_name": user_name,
            "unit": unit,
            "action": action,
            "personnummer": pnr,
            "instance_id": instance_id,
            "detail": detail,
        }
        for pnr, instance_id in dict.fromkeys(persons)
        if pnr
    ]


def entries(
    actor: Actor, action: str, persons: Iterable[tuple[str | None, int | None]], detail: str, now: object
) -> list[AccessLogEntry]:
    """The same rows as ORM objects, for a command's unit of work."""
    return [AccessLogEntry(**row) for row in rows(actor, action, persons, detail, now)]


SHARED = ("at", "username", "user_name", "unit", "action", "detail")  # the same in every row of one record()


@cache
def _insert_unnested() -> Insert:
    """PostgreSQL: the rows of one record() as one INSERT ... SELECT over unnest() of the persons and case ids, the
    columns they share as single parameters: one statement of fixed text (not 50 executions of one, nor a VALUES
    list of 400 parameters whose text depends on the number of rows): a third of the CPU of a page's log write."""
    table = AccessLogEntry.__table__
    persons = (
        func.unnest(
            bindparam("personnummer", type_=ARRAY(String())),  # no length: too long fails, as a plain INSERT does
            bindparam("instance_id", type_=ARRAY(table.c.instance_id.type)),
        )
        .table_valued("personnummer", "instance_id")
        .render_derived()
    )
    shared = {name: bindparam(name, type_=table.c[name].type) for name in SHARED}
    columns = [*SHARED, "personnummer", "instance_id"]
    return insert(cast(Table, table)).from_select(  # the table's: not the ORM's bulk insert of parameter rows
        columns, select(*(shared[n] for n in SHARED), persons.c.personnummer, persons.c.instance_id)
    )


class AccessLogWriter:
    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    def record(
        self, actor: Actor, action: str, persons: Iterable[tuple[str | None, int | None]], detail: str = ""
    ) -> None:
        """Write the rows in their own unit of work. The platform itself (Actor.internal) is not a person: its
        reads are not accesses."""
        if actor.internal:
            return
        found = rows(actor, action, persons, detail, self.clock.now())
        if not found:
            return
        with self.db.unit_of_work() as session:
            if self.db.dialect == "postgresql":
                params: dict[str, Any] = {name: found[0][name] for name in SHARED}
                params["personnummer"] = [r["personnummer"] for r in found]
                params["instance_id"] = [r["instance_id"] for r in found]
                session.execute(_insert_unnested(), params)
            else:  # one executemany of plain rows (no ORM flush)
                session.execute(insert(AccessLogEntry), found)

    def record_in(
        self,
        session: Session,
        actor: Actor,
        action: str,
        persons: Iterable[tuple[str | None, int | None]],
        detail: str = "",
    ) -> None:
        """The same rows inside a command's unit of work: the change and its log row commit together."""
        if actor.internal:
            return
        session.add_all(entries(actor, action, persons, detail, self.clock.now()))
